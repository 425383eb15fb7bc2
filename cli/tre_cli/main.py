"""`tre`'s command line: the arguments of each command, and how it ends.

Exit codes, for scripts: 0 done; 1 the portal refused (its reason on stderr), or you
declined to spend privacy budget; 2 a usage error (a wrong argument, not signed in, a file
in the way); 3 the portal could not be reached, or a download was corrupted; 4 the job
ended without finishing, or a question could not be answered; 130 Ctrl-C.
"""

import argparse
import os
import re
import sys

from tre_cli import __version__, commands, questions
from tre_cli.client import one_line
from tre_cli.errors import TreError, UsageError

_TOKEN_LIKE = re.compile(r"tre_[A-Za-z0-9_-]{32,}")
EPILOG = """\
Sign in once with an API token made in the portal (/accounts/tokens/):
  tre login https://tre.example.org
TRE_URL, TRE_TOKEN and TRE_WORKSPACE override the saved address and token and choose
the workspace; TRE_CONFIG names another configuration file.
Exit codes: 0 done, 1 refused by the portal (or declined), 2 usage error, 3 connection
problem or corrupted download, 4 the job (or question) ended without finishing, 130
stopped with Ctrl-C.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error of `tre`."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tre",
        description="The researchers' client of the Trusted Research Environment's portal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tre-cli {__version__}")
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND")

    as_json = _Parser(add_help=False)
    as_json.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of words"
    )
    in_workspace = _Parser(add_help=False)
    in_workspace.add_argument(
        "-w",
        "--workspace",
        metavar="SLUG",
        help="the workspace (default: $TRE_WORKSPACE, else the only one you are in)",
    )
    overwrite = _Parser(add_help=False)
    overwrite.add_argument("--force", action="store_true", help="replace files that exist")

    def command(name, function, help, parents=(as_json,)):
        subparser = subcommands.add_parser(name, help=help, description=help, parents=parents)
        subparser.set_defaults(function=function)
        return subparser

    login = command("login", commands.login, "check an API token and save it for the next commands")
    login.add_argument(
        "url", metavar="URL", help="the portal's address, e.g. https://tre.example.org"
    )
    login.add_argument(
        "--token",
        help="the token (default: asked for without echo, or read from stdin when piped); "
        "on the command line it shows in the process list",
    )
    command("logout", commands.logout, "forget the saved address and token")
    command("workspaces", commands.workspaces, "list your workspaces and your roles in them")
    command(
        "datasets",
        commands.datasets,
        "list a workspace's datasets and their versions",
        parents=(as_json, in_workspace),
    )

    sample = command(
        "sample",
        commands.sample,
        "download a dataset's synthetic sample (CSV), verified by its checksum",
        parents=(as_json, in_workspace, overwrite),
    )
    sample.add_argument("dataset", metavar="DATASET")
    sample.add_argument(
        "-o", "--output", metavar="FILE", help="where (default DATASET.csv; - stdout)"
    )
    sample.add_argument(
        "--version", type=int, metavar="N", help="the version (default: latest ready)"
    )

    run = command(
        "run",
        commands.run,
        "submit a script to run on datasets: a dry run on their synthetic samples, "
        "or a real (eyes-off) run",
        parents=(as_json, in_workspace, overwrite),
    )
    run.add_argument("script", metavar="SCRIPT.py")
    run.add_argument(
        "--dataset",
        action="append",
        metavar="NAME[@VERSION]",
        help="a dataset to run on (repeat for several)",
    )
    mode = run.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--dry",
        dest="mode",
        action="store_const",
        const="dry_run",
        help="a dry run on the synthetic samples: log and outputs shown",
    )
    mode.add_argument(
        "--real",
        dest="mode",
        action="store_const",
        const="real",
        help="a real run: nothing but its state and checks until outputs are released",
    )
    run.add_argument("--title", help="a title for the job")
    run.add_argument(
        "--wait",
        action="store_true",
        help="follow it until it ends; then a dry run's log is printed and its outputs saved",
    )
    run.add_argument(
        "-o", "--output", metavar="DIR", help="where a dry run's outputs go (default ./tre-job-ID/)"
    )

    status = command(
        "status",
        commands.status,
        "show a job, as its page in the portal does",
        parents=(as_json, in_workspace),
    )
    status.add_argument("job", metavar="JOB", type=int)
    status.add_argument("--wait", action="store_true", help="follow it until it ends")
    status.add_argument("--log", action="store_true", help="print a dry run's log too")

    jobs = command(
        "jobs",
        commands.jobs,
        "list the workspace's jobs, newest first",
        parents=(as_json, in_workspace),
    )
    jobs.add_argument("--limit", type=int, metavar="N", help="at most N (the portal's most: 100)")

    release = command(
        "release",
        commands.release,
        "ask for outputs of a real run to be released (output checkers review it)",
        parents=(as_json, in_workspace),
    )
    release.add_argument("job", metavar="JOB", type=int)
    release.add_argument(
        "--output",
        action="append",
        required=True,
        metavar="NAME",
        help="an output's name or id (repeat for several)",
    )
    release.add_argument(
        "--why", required=True, metavar="TEXT", help="what the outputs are for, for the checkers"
    )

    download = command(
        "download",
        commands.download,
        "save the outputs you may have: a dry run's, a real run's released ones",
        parents=(as_json, in_workspace, overwrite),
    )
    download.add_argument("job", metavar="JOB", type=int)
    download.add_argument("-o", "--output", metavar="DIR", help="where (default ./tre-job-ID/)")

    ask = command(
        "ask",
        questions.ask,
        "ask a question of the real data, answered at once with differential privacy: "
        "shows its accuracy first, then spends ε of the dataset's privacy budget",
        parents=(as_json, in_workspace),
    )
    ask.add_argument("dataset", metavar="DATASET")
    ask.add_argument(
        "statistic", metavar="STATISTIC", help="count, sum, mean, quantile or histogram"
    )
    ask.add_argument(
        "column", metavar="COLUMN", nargs="?", help="the column measured (none for a count)"
    )
    ask.add_argument(
        "--by", action="append", metavar="COLUMN", help="group by a column (repeat for two)"
    )
    ask.add_argument(
        "--epsilon",
        required=True,
        metavar="E",
        type=questions.epsilon_argument,
        help="the ε to spend, such as 0.5: more is more accurate, and spends more",
    )
    ask.add_argument(
        "--quantile", type=float, metavar="Q", help="for a quantile: 0.5, the median, by default"
    )
    ask.add_argument(
        "--version", type=int, metavar="N", help="the dataset's version (default: latest ready)"
    )
    ask.add_argument(
        "--yes",
        action="store_true",
        help="spend without asking first (needed when stdin is not a terminal)",
    )
    ask.add_argument("--wait", action="store_true", help="wait for the answer and print it")

    answer = command(
        "answer",
        questions.answer,
        "show a question asked with differential privacy and, once answered, its answer",
        parents=(as_json, in_workspace),
    )
    answer.add_argument("question", metavar="QUESTION", type=int)
    answer.add_argument("--wait", action="store_true", help="wait until it is answered")

    budget = command(
        "budget",
        questions.budget,
        "show a dataset version's privacy budget: what is left, the columns you may ask "
        "about, every spend",
        parents=(as_json, in_workspace),
    )
    budget.add_argument("dataset", metavar="DATASET")
    budget.add_argument(
        "--version", type=int, metavar="N", help="the version (default: latest ready)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `tre` command; its exit code."""
    for stream in (sys.stdout, sys.stderr):
        # A log or a name the terminal's encoding cannot show must not end the command.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "function"):
            parser.print_help(sys.stderr)
            return 2
        return args.function(args)
    except TreError as error:
        complain(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        complain("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`tre jobs | head`): not an error of ours to report.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:
        # A bug of ours, or an answer unlike the API's: still one line, unless asked.
        if os.environ.get("TRE_DEBUG"):
            raise
        complain(
            f"something unexpected went wrong ({type(error).__name__}: {error}); "
            "TRE_DEBUG=1 shows where"
        )
        return 1


def complain(message: str) -> None:
    """Print `message` as `tre`'s one line on stderr, with anything like a token masked:
    no message should hold one, and this makes sure none shows."""
    print(f"tre: {_TOKEN_LIKE.sub('tre_…', one_line(message))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
