"""Budgets and spends: who may set and spend them, what composes, what is refused, and
that nothing is ever spent past a budget, even by questions asked at the same moment."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from privacy import services
from privacy.models import PrivacyBudget, PrivateQuestion
from tests.privacy.conftest import count_by_ward
from tre.audit import AuditEvent
from tre.demo import PRIVACY_COLUMNS


def test_a_steward_sets_a_budget_and_it_is_audited(budget, checker):
    assert budget.epsilon == Decimal(1)
    assert budget.columns["ward"]["categories"][0] == "cardiology"
    event = AuditEvent.objects.filter(action="privacy.budget_set").get()
    assert event.actor == checker
    assert event.details["epsilon"] == "1.000000"
    assert event.details["columns"] == sorted(PRIVACY_COLUMNS)


def test_researchers_and_owners_cannot_set_a_budget(ready_version, researcher, owner):
    for user in (researcher, owner):
        with pytest.raises(PermissionDenied):
            services.set_budget(version=ready_version, by=user, epsilon=5, columns={})
    assert not PrivacyBudget.objects.exists()


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"nope": {"kind": "categorical", "categories": ["a"]}}, 'no column "nope"'),
        ({"ward": {"kind": "numeric", "lower": 0, "upper": 1}}, "declare it categorical"),
        ({"age": {"kind": "numeric", "lower": 5, "upper": 5}}, "below the upper"),
        ({"age": {"kind": "numeric", "lower": 0}}, "needs a lower and an upper"),
        ({"ward": {"kind": "categorical", "categories": [" ", ""]}}, "categories listed"),
        ({"ward": {"kind": "guess"}}, "numeric or categorical"),
    ],
)
def test_declarations_are_checked_against_the_schema(ready_version, checker, columns, message):
    with pytest.raises(ValidationError, match=message):
        services.set_budget(version=ready_version, by=checker, epsilon=1, columns=columns)


def test_questions_compose_sequentially_to_the_budget(
    budget, researcher, queued_questions, django_capture_on_commit_callbacks
):
    for epsilon in ("0.3", "0.3", "0.4"):
        with django_capture_on_commit_callbacks(execute=True):
            services.ask_question(
                version=budget.version, by=researcher, question=count_by_ward(epsilon)
            )
    assert services.spent_of(budget) == Decimal(1)  # exactly: Decimals, not floats
    with pytest.raises(ValidationError, match=r"ε 0 is left.*Nothing was spent"):
        services.ask_question(
            version=budget.version, by=researcher, question=count_by_ward("0.000001")
        )
    assert PrivateQuestion.objects.count() == 3
    assert len(queued_questions) == 3


def test_an_overspending_question_is_refused_and_spends_nothing(budget, researcher):
    with pytest.raises(ValidationError, match=r"needs ε 1\.5, and ε 1 is left"):
        services.ask_question(version=budget.version, by=researcher, question=count_by_ward(1.5))
    assert not PrivateQuestion.objects.exists()
    assert not AuditEvent.objects.filter(action="privacy.question_asked").exists()


def test_each_researcher_keeps_to_their_share(
    budget, researcher, checker, workspace, queued_questions
):
    from tests.conftest import _member
    from tre.permissions import Role

    services.set_budget(
        version=budget.version, by=checker, epsilon=1, epsilon_per_researcher="0.5",
        columns=PRIVACY_COLUMNS,
    )  # fmt: skip
    services.ask_question(version=budget.version, by=researcher, question=count_by_ward(0.5))
    with pytest.raises(ValidationError, match="left of your share"):
        services.ask_question(version=budget.version, by=researcher, question=count_by_ward(0.1))
    colleague = _member(workspace, "remy", Role.RESEARCHER)
    services.ask_question(version=budget.version, by=colleague, question=count_by_ward(0.5))
    assert services.spent_of(budget) == Decimal(1)


def test_a_budget_cannot_drop_below_what_was_spent(budget, researcher, checker, queued_questions):
    services.ask_question(version=budget.version, by=researcher, question=count_by_ward(0.6))
    with pytest.raises(ValidationError, match=r"0\.6 has been spent"):
        services.set_budget(
            version=budget.version, by=checker, epsilon="0.5", columns=PRIVACY_COLUMNS
        )


def test_only_researchers_of_the_workspace_ask(budget, checker, owner, outsider):
    # A checker never asks (separation of duties); an owner is not a researcher here.
    for user in (checker, owner, outsider):
        with pytest.raises(PermissionDenied):
            services.ask_question(version=budget.version, by=user, question=count_by_ward())
    assert not PrivateQuestion.objects.exists()


def test_no_budget_no_question(ready_version, researcher):
    with pytest.raises(ValidationError, match="has no privacy budget"):
        services.ask_question(version=ready_version, by=researcher, question=count_by_ward())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"statistic": "count", "epsilon": 0}, "more than 0"),
        ({"statistic": "count", "epsilon": 11}, "at most 10"),
        ({"statistic": "max", "epsilon": 1}, "Choose count"),
        ({"statistic": "count", "epsilon": "lots"}, "must be a number"),
    ],
)
def test_malformed_questions_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        services.question_of(**fields)


def test_a_question_on_an_undeclared_column_is_refused(budget, researcher):
    question = services.question_of(statistic="sum", epsilon=0.1, column="patient_name")
    with pytest.raises(ValidationError):
        services.ask_question(version=budget.version, by=researcher, question=question)
    assert not PrivateQuestion.objects.exists()


def test_an_answer_is_released_with_its_accuracy_and_audited(budget, researcher, queued_questions):
    question = services.ask_question(
        version=budget.version, by=researcher, question=count_by_ward(0.5)
    )
    assert question.status == PrivateQuestion.Status.SPENT
    answered = services.answer_question(question_id=question.pk)
    assert answered.status == PrivateQuestion.Status.ANSWERED
    assert answered.answer["columns"] == ["ward", "count"]
    labels = [row[0] for row in answered.answer["rows"]]
    assert labels[:5] == PRIVACY_COLUMNS["ward"]["categories"]
    assert 0 < answered.epsilon_used <= 0.5
    assert "95" in answered.accuracy["statement"]
    # A second delivery of the task changes nothing: one answer, one spend.
    assert services.answer_question(question_id=question.pk) is None
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("privacy.question_asked") == 1
    assert actions.count("privacy.answered") == 1
    asked = AuditEvent.objects.get(action="privacy.question_asked")
    assert asked.actor == researcher
    assert asked.details["question"] == "count by ward"
    assert asked.details["epsilon"] == "0.500000"
    assert "discrete Laplace" in asked.details["mechanism"] or asked.details["mechanism"]


def test_a_failed_answer_gives_the_spend_back(budget, researcher, queued_questions, monkeypatch):
    from privacy import mechanisms

    question = services.ask_question(
        version=budget.version, by=researcher, question=count_by_ward(0.7)
    )

    def broken(*args, **kwargs):
        raise RuntimeError("a value from the data, never shown")

    monkeypatch.setattr(mechanisms, "answer", broken)  # the platform failing, by design
    refunded = services.answer_question(question_id=question.pk)
    assert refunded.status == PrivateQuestion.Status.REFUNDED
    assert "Nothing was spent" in refunded.status_reason
    assert "never shown" not in refunded.status_reason
    assert services.spent_of(budget) == 0
    assert AuditEvent.objects.filter(action="privacy.refunded").exists()


def _ask_at_once(version, users, epsilon, how_many):
    """`how_many` questions from their own threads (their own database connections),
    released together."""
    start = threading.Barrier(how_many)
    outcomes = []

    def ask(user):
        try:
            start.wait()
            services.ask_question(version=version, by=user, question=count_by_ward(epsilon))
            outcomes.append("spent")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=ask, args=(users[index % len(users)],)) for index in range(how_many)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_twenty_questions_at_once_never_overspend(budget, researcher, queued_questions):
    """20 questions of ε 0.1 at the same moment against a budget of 1: exactly 10 are
    spent, whatever the database (PostgreSQL in CI, SQLite on a fresh machine)."""
    outcomes = _ask_at_once(budget.version, [researcher], "0.1", 20)
    assert outcomes.count("spent") == 10
    assert outcomes.count("refused") == 10
    assert services.spent_of(budget) == Decimal(1)
    assert PrivateQuestion.objects.count() == 10
