"""Every change to privacy budgets and every question, one function per action.

The spend is taken before the mechanism runs, in the database, under the budget row's
lock (`select_for_update`: a row lock on PostgreSQL; on SQLite every transaction here
begins IMMEDIATE, which takes the database's write lock first): two questions at the
same moment are added up one after the other, so together they can never pass the
budget. A question's spend is given back only when no answer was produced.

Composition: every mechanism offered is pure ε-differentially private, and questions on
one dataset version compose sequentially (basic composition): the privacy loss of all the
answers is at most the sum of their ε, which is what the ledger adds up (docs/
differential-privacy.md).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from privacy import mechanisms
from privacy.models import PrivacyBudget, PrivateQuestion
from tre import audit
from tre.celery import app as celery_app
from tre.permissions import ASK_PRIVATE_QUESTIONS, MANAGE_DATASETS, authorize
from workspaces.models import DatasetVersion

logger = logging.getLogger(__name__)

ANSWER_TASK = "privacy.tasks.answer_question_task"
EPSILON_PLACES = Decimal("0.000001")
# One question's ε at most; a budget's at most (a steward who wants more is not using DP).
MAX_QUESTION_EPSILON = Decimal(10)
MAX_BUDGET_EPSILON = Decimal(100)
MAX_CATEGORIES = 200
MAX_BINS = 100
NUMERIC_KINDS = ("integer", "float")


def as_epsilon(value, *, field: str = "epsilon") -> Decimal:
    """ε as the ledger keeps it: a Decimal to six places, positive."""
    try:
        epsilon = Decimal(str(value)).quantize(EPSILON_PLACES, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "ε must be a number, such as 0.5."}) from None
    if not epsilon.is_finite() or epsilon <= 0:
        raise ValidationError({field: "ε must be more than 0."})
    return epsilon


# --- budgets -----------------------------------------------------------------------------


def rules_of(budget: PrivacyBudget) -> dict[str, mechanisms.ColumnRules]:
    """The budget's declared columns as the mechanisms read them."""
    rules = {}
    for name, rule in budget.columns.items():
        rules[name] = mechanisms.ColumnRules(
            name=name,
            kind=rule["kind"],
            lower=rule.get("lower"),
            upper=rule.get("upper"),
            categories=tuple(rule.get("categories") or ()),
            bins=rule.get("bins") or 10,
        )
    return rules


def clean_columns(version: DatasetVersion, columns: dict) -> dict:
    """A steward's column declarations, checked against the version's schema."""
    kinds = {column["name"]: column["kind"] for column in version.schema}
    cleaned = {}
    for name, rule in columns.items():
        if name not in kinds:
            raise ValidationError(f'{version} has no column "{name}".')
        kind = rule.get("kind")
        if kind == "numeric":
            if kinds[name] not in NUMERIC_KINDS:
                raise ValidationError(
                    f'"{name}" holds {kinds[name]} values: declare it categorical.'
                )
            try:
                lower, upper = float(rule["lower"]), float(rule["upper"])
                bins = int(rule.get("bins") or 10)
            except (KeyError, TypeError, ValueError):
                raise ValidationError(f'"{name}" needs a lower and an upper bound.') from None
            if not (lower < upper) or not all(map(_finite, (lower, upper))):
                raise ValidationError(f'"{name}": the lower bound must be below the upper one.')
            if not 1 <= bins <= MAX_BINS:
                raise ValidationError(f'"{name}": between 1 and {MAX_BINS} bins.')
            cleaned[name] = {"kind": kind, "lower": lower, "upper": upper, "bins": bins}
        elif kind == "categorical":
            categories = [str(value).strip() for value in rule.get("categories") or []]
            categories = [value for value in dict.fromkeys(categories) if value]
            if not categories:
                raise ValidationError(f'"{name}" needs its categories listed.')
            if len(categories) > MAX_CATEGORIES:
                raise ValidationError(f'"{name}": at most {MAX_CATEGORIES} categories.')
            cleaned[name] = {"kind": kind, "categories": categories}
        else:
            raise ValidationError(f'"{name}": choose numeric or categorical.')
    return cleaned


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def set_budget(
    *,
    version: DatasetVersion,
    by,
    epsilon,
    columns: dict,
    delta=0,
    epsilon_per_researcher=None,
    rows_per_person: int = 1,
) -> PrivacyBudget:
    """Give a dataset version its privacy budget and the columns questions may use, or
    change them. A budget never drops below what has been spent."""
    authorize(by, MANAGE_DATASETS, version.dataset.workspace)
    if version.status != DatasetVersion.Status.READY:
        raise ValidationError("Only a ready dataset version can have a privacy budget.")
    epsilon = as_epsilon(epsilon)
    if epsilon > MAX_BUDGET_EPSILON:
        raise ValidationError({"epsilon": f"A budget's ε is at most {MAX_BUDGET_EPSILON}."})
    share = None
    if epsilon_per_researcher not in (None, ""):
        share = as_epsilon(epsilon_per_researcher, field="epsilon_per_researcher")
        if share > epsilon:
            raise ValidationError({"epsilon_per_researcher": "A share can't pass the budget."})
    try:
        delta = Decimal(str(delta or 0))
    except InvalidOperation:
        raise ValidationError({"delta": "δ must be a number, such as 0 or 1e-6."}) from None
    if not (0 <= delta < 1):
        raise ValidationError({"delta": "δ must be at least 0 and below 1."})
    if not 1 <= int(rows_per_person) <= 1000:
        raise ValidationError({"rows_per_person": "Between 1 and 1,000 rows per person."})
    columns = clean_columns(version, columns)

    with transaction.atomic():
        budget = PrivacyBudget.objects.select_for_update().filter(version=version).first()
        created = budget is None
        if created:
            budget = PrivacyBudget(version=version)
        else:
            spent = spent_of(budget)
            if epsilon < spent:
                raise ValidationError(
                    {"epsilon": f"{_e(spent)} has been spent already: the budget can't be less."}
                )
        budget.epsilon, budget.delta, budget.epsilon_per_researcher = epsilon, delta, share
        budget.rows_per_person, budget.columns, budget.updated_by = (
            int(rows_per_person),
            columns,
            by,
        )
        budget.save()
        audit.record(
            action="privacy.budget_set",
            by=by,
            target=budget,
            workspace=version.dataset.workspace,
            details={
                "version": str(version),
                "epsilon": str(epsilon),
                "delta": str(delta),
                "epsilon_per_researcher": str(share) if share is not None else None,
                "rows_per_person": int(rows_per_person),
                "columns": sorted(columns),
                "created": created,
            },
        )
    return budget


def spent_of(budget: PrivacyBudget, *, user=None) -> Decimal:
    """ε spent on the budget (by `user`, if given): what is not given back, to the
    millionth (Decimals added in Python: a database's float sum would drift)."""
    questions = budget.questions.exclude(status=PrivateQuestion.Status.REFUNDED)
    if user is not None:
        questions = questions.filter(asked_by=user)
    return sum(questions.values_list("epsilon", flat=True), Decimal(0))


@dataclass(frozen=True)
class Standing:
    """A budget as a researcher sees it before asking."""

    epsilon: Decimal
    spent: Decimal
    left: Decimal
    share: Decimal | None
    spent_by_you: Decimal
    left_for_you: Decimal


def standing(budget: PrivacyBudget, user) -> Standing:
    spent = spent_of(budget)
    mine = spent_of(budget, user=user)
    left = max(budget.epsilon - spent, Decimal(0))
    share = budget.epsilon_per_researcher
    left_for_you = left if share is None else min(left, max(share - mine, Decimal(0)))
    return Standing(budget.epsilon, spent, left, share, mine, left_for_you)


def _e(value: Decimal) -> str:
    return f"ε {value.normalize():f}"


# --- questions ---------------------------------------------------------------------------


def budget_for(version: DatasetVersion) -> PrivacyBudget:
    budget = PrivacyBudget.objects.filter(version=version).first()
    if budget is None:
        raise ValidationError(f"{version} has no privacy budget: a data steward sets one.")
    return budget


def question_of(
    *, statistic: str, epsilon, column: str = "", by=(), quantile=None
) -> mechanisms.Question:
    """A question as the mechanisms take it, from what a form or a script sent."""
    if statistic not in PrivateQuestion.Statistic.values:
        raise ValidationError({"statistic": "Choose count, sum, mean, quantile or histogram."})
    epsilon = as_epsilon(epsilon)
    if epsilon > MAX_QUESTION_EPSILON:
        raise ValidationError({"epsilon": f"One question's ε is at most {MAX_QUESTION_EPSILON}."})
    by = tuple(name for name in (by or ()) if name)
    try:
        quantile = 0.5 if quantile in (None, "") else float(quantile)
    except (TypeError, ValueError):
        raise ValidationError({"quantile": "The quantile is a number between 0 and 1."}) from None
    return mechanisms.Question(
        statistic=statistic, epsilon=float(epsilon), column=column or "", by=by, quantile=quantile
    )


def check_question(budget: PrivacyBudget, question: mechanisms.Question) -> mechanisms.Accuracy:
    """The accuracy the question would get: raises ValidationError if it can't be asked."""
    try:
        return mechanisms.accuracy(
            question, rules_of(budget), rows_per_person=budget.rows_per_person
        )
    except mechanisms.QuestionError as error:
        raise ValidationError(str(error)) from None


def ask_question(
    *, version: DatasetVersion, by, question: mechanisms.Question, job=None
) -> PrivateQuestion:
    """Spend the question's ε on `version`'s budget and have it answered on the real data.
    Refused, with nothing spent, if it can't be asked or would pass the budget."""
    return ask_questions(asked=[(version, question)], by=by, job=job)[0]


def ask_questions(*, asked: list, by, job=None) -> list[PrivateQuestion]:
    """Several questions at once, all spent or none: a script's, with its real run."""
    questions = []
    with transaction.atomic():
        # Budgets locked in one order, so two askers never wait on each other in a cycle.
        locked = {}
        for version in sorted({version for version, _ in asked}, key=lambda v: v.pk):
            authorize(by, ASK_PRIVATE_QUESTIONS, version.dataset.workspace)
            if version.status != DatasetVersion.Status.READY:
                raise ValidationError(f"{version} can't be asked questions now.")
            budget = budget_for(version)
            locked[version.pk] = PrivacyBudget.objects.select_for_update().get(pk=budget.pk)
        wanted: dict[int, Decimal] = {}
        for version, question in asked:
            budget = locked[version.pk]
            accuracy = check_question(budget, question)
            epsilon = as_epsilon(question.epsilon)
            wanted[budget.pk] = wanted.get(budget.pk, Decimal(0)) + epsilon
            _check_affordable(budget, by, wanted[budget.pk])
            questions.append(
                PrivateQuestion.objects.create(
                    budget=budget,
                    workspace=version.dataset.workspace,
                    asked_by=by,
                    job=job,
                    statistic=question.statistic,
                    column=question.column,
                    by=list(question.by),
                    quantile=question.quantile
                    if question.statistic == PrivateQuestion.Statistic.QUANTILE
                    else None,
                    epsilon=epsilon,
                    mechanism=accuracy.mechanism,
                    accuracy=_accuracy_record(accuracy),
                )
            )
        for asked_question in questions:
            audit.record(
                action="privacy.question_asked",
                by=by,
                target=asked_question,
                details={
                    "version": str(asked_question.budget.version),
                    "question": asked_question.describe(),
                    "statistic": asked_question.statistic,
                    "column": asked_question.column,
                    "by": asked_question.by,
                    "mechanism": asked_question.mechanism,
                    "epsilon": str(asked_question.epsilon),
                    "delta": str(asked_question.delta),
                    "job": job.pk if job is not None else None,
                },
            )
            transaction.on_commit(partial(queue_question, asked_question.pk))
    return questions


def _check_affordable(budget: PrivacyBudget, user, epsilon: Decimal) -> None:
    now = standing(budget, user)
    if epsilon > now.left:
        raise ValidationError(
            f"This needs {_e(epsilon)}, and {_e(now.left)} is left of "
            f"{budget.version}'s budget of {_e(budget.epsilon)}. Nothing was spent."
        )
    if epsilon > now.left_for_you:
        raise ValidationError(
            f"This needs {_e(epsilon)}, and {_e(now.left_for_you)} is left of your share "
            f"({_e(now.share)}) of {budget.version}'s budget. Nothing was spent."
        )


def _accuracy_record(accuracy: mechanisms.Accuracy) -> dict:
    return {
        "alpha": accuracy.alpha,
        "half_width": accuracy.half_width,
        "statement": accuracy.statement,
        "mechanism": accuracy.mechanism,
    }


def queue_question(question_id: int) -> None:
    """Send the question to a worker (where the real data may be read)."""
    from kombu.exceptions import OperationalError

    try:
        celery_app.send_task(
            ANSWER_TASK, args=(question_id,), queue=settings.TRE_PRIVACY_QUEUE, retry=True,
            retry_policy={"max_retries": 3},
        )  # fmt: skip
    except OperationalError:
        # Spent and unanswered: the reaper sends it again once the broker is back.
        logger.warning("Could not queue private question %s: broker unavailable", question_id)


def answer_question(*, question_id: int) -> PrivateQuestion | None:
    """Answer a spent question on the real data (on a worker). Idempotent: an answered
    or refunded question is left as it is, and of two deliveries only one answer is kept
    (a second draw of the noise, never shown, costs nothing more)."""
    question = (
        PrivateQuestion.objects.select_related("budget__version__data_file")
        .filter(pk=question_id, status=PrivateQuestion.Status.SPENT)
        .first()
    )
    if question is None:
        return None
    budget = question.budget
    version = budget.version
    asked = mechanisms.Question(
        statistic=question.statistic,
        epsilon=float(question.epsilon),
        column=question.column,
        by=tuple(question.by),
        quantile=question.quantile if question.quantile is not None else 0.5,
    )
    try:
        frame = frame_for(version, asked, version.data_file)
        answered = mechanisms.answer(
            asked, frame, rules_of(budget), rows_per_person=budget.rows_per_person
        )
        del frame
    except Exception as error:
        # The type only: a message could quote the data.
        logger.error("Private question %s failed: %s", question_id, type(error).__name__)
        return _end(
            question,
            PrivateQuestion.Status.REFUNDED,
            reason="The platform could not answer this question. Nothing was spent.",
        )
    return _end(
        question,
        PrivateQuestion.Status.ANSWERED,
        answer={"columns": answered.columns, "rows": answered.rows},
        accuracy=_accuracy_record(answered.accuracy),
        epsilon_used=answered.epsilon,
    )


def frame_for(version: DatasetVersion, question: mechanisms.Question, stored_file):
    """The columns a question reads, from a stored file of `version` (its data, or its
    synthetic sample), with true/false written as in the CSV so that declared categories
    match them."""
    from workspaces.services.datasets import read_table

    kinds = {column["name"]: column["kind"] for column in version.schema}
    needed = [name for name in kinds if name == question.column or name in question.by]
    frame = read_table(stored_file, kinds, columns=needed)
    for name in needed:
        if kinds[name] == "boolean":
            frame[name] = frame[name].map({True: "true", False: "false"}).astype("string")
    return frame


def _end(question: PrivateQuestion, status: str, *, reason: str = "", **values):
    with transaction.atomic():
        current = PrivateQuestion.objects.select_for_update().get(pk=question.pk)
        if current.status != PrivateQuestion.Status.SPENT:
            return current  # another delivery ended it first: its answer is the one kept
        current.check_transition(status)
        current.status, current.status_reason = status, reason
        for name, value in values.items():
            setattr(current, name, value)
        current.answered_at = timezone.now()
        current.save()
        audit.record(
            action="privacy.answered" if status == PrivateQuestion.Status.ANSWERED
            else "privacy.refunded",
            target=current,
            details={
                "question": current.describe(),
                "epsilon": str(current.epsilon),
                "epsilon_used": current.epsilon_used,
            },
        )  # fmt: skip
    return current


def requeue_unanswered(*, older_than_seconds: int = 120) -> int:
    """Send again questions spent but still unanswered (a broker that was down, a worker
    killed mid-answer): called by the reaper. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        PrivateQuestion.objects.filter(
            status=PrivateQuestion.Status.SPENT, asked_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for question_id in stale:
        queue_question(question_id)
    return len(stale)
