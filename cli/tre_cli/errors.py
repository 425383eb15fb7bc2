"""What can go wrong, each kind with the exit code a script calling `tre` can test.

Every error ends the command with one line on stderr (`tre: <message>`), never a
traceback: the message is for the person at the terminal, the code for their scripts.
"""


class TreError(Exception):
    """An error that ends the command; `exit_code` says which kind it was."""

    exit_code = 1


class ServerRefused(TreError):
    """The portal answered, but not with what was asked for (an HTTP error status)."""

    exit_code = 1


class UsageError(TreError):
    """The command cannot be done as asked: a wrong argument, no sign-in, a file in the way."""

    exit_code = 2


class ConnectionProblem(TreError):
    """The portal could not be reached, or what came back was cut or corrupted."""

    exit_code = 3


class ChecksumMismatch(ConnectionProblem):
    """A download's SHA-256 differs from the portal's: a corrupted transfer, so trying
    again may help, as with the other connection problems."""


class JobDidNotFinish(TreError):
    """The job ended, but failed, timed out, went over a limit or was cancelled."""

    exit_code = 4


class StoppedWaiting(TreError):
    """Ctrl-C while following a job: the job goes on, only the waiting stops."""

    exit_code = 130


class Declined(TreError):
    """Asked to confirm spending privacy budget, the person said no: nothing was asked."""

    exit_code = 1


class QuestionNotAnswered(TreError):
    """The portal could not answer a question with differential privacy (its ε was given
    back): as a job that ended without finishing."""

    exit_code = 4
