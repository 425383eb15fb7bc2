"""`tre ask`, `tre answer` and `tre budget`: questions of the real data answered with
differential privacy, and the privacy budget they spend.

A question spends part of its dataset version's budget as soon as the portal takes it,
and what is spent is never given back once answered. So `tre ask` first shows what the
question would get, from the portal's preview, which spends nothing: the accuracy, and
the ε it spends of what is left for you. It spends only once the person agrees: at a
terminal by answering "y", elsewhere only with `--yes` on the command line, so that no
script spends budget by accident.

The preview and the question go to stderr, the answer to stdout (words, or with `--json`
the portal's JSON as it is).
"""

import sys
import time
from decimal import Decimal, InvalidOperation

from tre_cli.client import LONG_POLL_READ_TIMEOUT, Portal, one_line, path_segment
from tre_cli.commands import choose_workspace, connect, emit_json, say, table, wants_json
from tre_cli.errors import (
    Declined,
    QuestionNotAnswered,
    ServerRefused,
    StoppedWaiting,
    UsageError,
)
from tre_cli.progress import SHORTEST_QUIET_ANSWER_SECONDS

BEING_ANSWERED = "spent"


def epsilon_argument(text: str) -> str:
    """--epsilon as typed, once it is a positive number: sent as text, so that 0.1 is
    exactly 0.1 in the portal's ledger."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"--epsilon {text!r} is not a number, such as 0.5") from None
    if not value.is_finite() or value <= 0:
        raise UsageError(f"--epsilon must be more than 0, not {text}")
    return text


def privacy_path(workspace: str, dataset: str) -> str:
    return f"workspaces/{path_segment(workspace)}/datasets/{path_segment(dataset)}/privacy"


def question_path(workspace: str, question_id) -> str:
    return f"workspaces/{path_segment(workspace)}/questions/{path_segment(question_id)}"


def answer_hint(question_id, args) -> str:
    """The command line that shows the question's answer, as the person would type it."""
    workspace = f" --workspace {args.workspace}" if args.workspace else ""
    return f"tre answer {question_id}{workspace} --wait"


# Asking -------------------------------------------------------------------------------


def ask(args) -> int:
    """`tre ask DATASET STATISTIC [COLUMN]`: preview, confirm, spend, and with --wait the
    answer."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    path = privacy_path(workspace, args.dataset)
    asked = {
        "statistic": args.statistic,
        "column": args.column or None,
        "by": args.by or [],
        "epsilon": args.epsilon,
        "quantile": args.quantile,
        "version": args.version,
    }
    preview = portal.get_json(f"{path}/accuracy", query=asked)
    epsilon, left = preview.get("epsilon"), preview.get("left_for_you")
    notice(
        f"{(preview.get('accuracy') or {}).get('statement', '')} "
        f"This spends ε {epsilon} of the ε {left} left for you."
    )
    if preview.get("would_overspend"):
        raise ServerRefused(
            f"this needs ε {epsilon}, and ε {left} is left for you of the privacy budget "
            f"of {args.dataset}: nothing was asked, nothing spent"
        )
    confirm(epsilon, args)
    body = {key: value for key, value in asked.items() if value is not None}
    question = portal.post_json(f"{path}/questions", body)
    if not args.wait:
        if wants_json(args):
            emit_json(question)
        else:
            say(
                f"Asked question {question['id']}: {describe(question)}, "
                f"ε {question.get('epsilon')} spent; {question.get('status_label')}."
            )
            say(f"See its answer with: {answer_hint(question['id'], args)}")
        return 0
    notice(f"asked question {question['id']} (ε {question.get('epsilon')} spent): waiting")
    question = follow(portal, workspace, question, hint=answer_hint(question["id"], args))
    return show_result(question, args)


def confirm(epsilon: str, args) -> None:
    """Go on only if the person agrees to spend `epsilon`: --yes, or "y" at a terminal."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"not asked: spending ε {epsilon} needs --yes when stdin is not a terminal"
        )
    print(f"Spend ε {epsilon} on this question? [y/N] ", end="", file=sys.stderr, flush=True)
    typed = sys.stdin.readline()
    if typed.strip().lower() not in ("y", "yes"):
        raise Declined("nothing asked, nothing spent")


def follow(portal: Portal, workspace: str, question: dict, *, hint: str) -> dict:
    """Wait until the question is answered (or not: its ε given back); the question then.
    Ctrl-C stops the waiting, not the answering."""
    path = question_path(workspace, question["id"])
    try:
        while question.get("status") == BEING_ANSWERED:
            asked = time.monotonic()
            question = portal.get_json(f"{path}/wait", read_timeout=LONG_POLL_READ_TIMEOUT)
            quick = time.monotonic() - asked < SHORTEST_QUIET_ANSWER_SECONDS
            if quick and question.get("status") == BEING_ANSWERED:
                time.sleep(SHORTEST_QUIET_ANSWER_SECONDS)
    except KeyboardInterrupt:
        raise StoppedWaiting(
            f"stopped waiting; question {question['id']} is still being answered. "
            f"See it with: {hint}"
        ) from None
    return question


def answer(args) -> int:
    """`tre answer QUESTION`: a question and, once answered, its answer."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    question = portal.get_json(question_path(workspace, args.question))
    if args.wait:
        question = follow(portal, workspace, question, hint=answer_hint(question["id"], args))
    return show_result(question, args)


# Showing --------------------------------------------------------------------------------


def notice(text: str) -> None:
    print(f"tre: {one_line(text)}", file=sys.stderr)


def describe(question: dict) -> str:
    return f"{question.get('question')} of {question.get('dataset')} v{question.get('version')}"


def show_result(question: dict, args) -> int:
    """Print the question (as JSON, or its answer as a table); exit 4 if it was not
    answered."""
    if wants_json(args):
        emit_json(question)
    else:
        show_question(question)
    if question.get("status") == "refunded":
        reason = question.get("reason") or "nothing was spent"
        raise QuestionNotAnswered(f"question {question['id']} was not answered: {reason}")
    return 0


def show_question(question: dict) -> None:
    """What the question's page shows, in words, the answer as a table."""
    say(f"Question {question['id']}: {describe(question)}: {question.get('status_label')}")
    result = question.get("answer")
    if result:
        say(f"Released by {question.get('released_by')}:")
        table(
            [[cell(value) for value in row] for row in result.get("rows") or []],
            [str(name) for name in result.get("columns") or []],
        )
    accuracy = (question.get("accuracy") or {}).get("statement")
    if accuracy:
        say(f"Accuracy: {accuracy}")
    cost = f"ε {question.get('epsilon')} spent"
    if question.get("epsilon_used") is not None:
        cost += f" (OpenDP's privacy map: {question['epsilon_used']:.6g})"
    say(f"{cost}; {question.get('mechanism')}.")
    if result:
        say("Noise is part of the answer: a count can come out a little off, even below zero.")


def cell(value) -> str:
    """A value of an answer as the portal's page shows it: at most 3 decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}"
    return str(value)


# The budget -----------------------------------------------------------------------------


def budget(args) -> int:
    """`tre budget DATASET`: a version's privacy budget, declared columns and spends."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    shown = portal.get_json(privacy_path(workspace, args.dataset), query={"version": args.version})
    if wants_json(args):
        emit_json(shown)
        return 0
    share = shown.get("share")
    say(f"{shown.get('dataset')} v{shown.get('version')}: privacy budget ε {shown.get('epsilon')}")
    say(
        f"  spent ε {shown.get('spent')}, left ε {shown.get('left')}; left for you "
        f"ε {shown.get('left_for_you')}"
        + (f" (your share: ε {share})" if share is not None else "")
    )
    rows = shown.get("rows_per_person")
    say(f"  δ {shown.get('delta')}; at most {rows} row{'' if rows == 1 else 's'} per person")
    say("Columns you may ask about:")
    declared = shown.get("columns") or {}
    width = max(map(len, declared), default=0)
    for name, rule in declared.items():
        say(f"  {one_line(name).ljust(width)}  {declaration(rule)}")
    if not declared:
        say("  none declared yet")
    spends = shown.get("questions") or []
    say("Every spend:")
    if not spends:
        say("  nothing spent yet")
        return 0
    table(
        [
            [
                spend.get("id"),
                spend.get("question"),
                spend.get("asked_by"),
                spend.get("epsilon"),
                spend.get("status_label") or spend.get("status"),
                spend.get("asked_at"),
            ]
            for spend in spends
        ],
        ["ID", "QUESTION", "BY", "ε", "STATUS", "ASKED"],
    )
    return 0


def declaration(rule: dict) -> str:
    """A declared column as the privacy page says it."""
    if rule.get("kind") == "numeric":
        return (
            f"numbers from {number(rule.get('lower'))} to {number(rule.get('upper'))} "
            f"(values beyond are clamped), {rule.get('bins')} bins"
        )
    categories = ", ".join(map(str, rule.get("categories") or []))
    return f'categories: {categories} (anything else counts as "(other)")'


def number(value) -> str:
    """A declared bound as written: 120, not 120.0."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)
