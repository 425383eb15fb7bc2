"""Questions with differential privacy through the API: a version's budget, the accuracy
preview (which spends nothing), asking (which spends), the answer and its long-poll.

Questions are asked through the real service and answered in-process with
`privacy.services.answer_question`, as a worker would: on_commit callbacks never run in
these tests, so nothing is sent to one. Who may call which route is in
test_api_matrix.py; what a checker may not do is tried here too.
"""

import time
from decimal import Decimal

import pytest
from django.db import connection

from accounts import tokens
from privacy import selectors as privacy_selectors
from privacy import services
from privacy.models import PrivateQuestion
from tests.api.conftest import ROOT, ApiClient, make_token
from tre.demo import PRIVACY_COLUMNS
from tre.models import AuditEvent
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

PRIVACY = ROOT + "/workspaces/cardiac/datasets/admissions/privacy"
QUESTIONS = ROOT + "/workspaces/cardiac/questions"
WARDS = PRIVACY_COLUMNS["ward"]["categories"]
COUNT_BY_WARD = {"statistic": "count", "by": ["ward"], "epsilon": 0.25}


@pytest.fixture
def researcher_api(researcher):
    return ApiClient(make_token(researcher))


@pytest.fixture
def checker_api(checker):
    return ApiClient(make_token(checker))


def ask(client, body=COUNT_BY_WARD):
    return client.post_json(PRIVACY + "/questions", body)


def spent(budget) -> Decimal:
    return services.spent_of(budget)


# --- the budget ------------------------------------------------------------------------


def test_the_budget_is_the_privacy_pages(researcher_api, researcher, privacy_budget):
    asked = ask(researcher_api).json()

    body = researcher_api.get(PRIVACY).json()

    assert body == {
        "dataset": "admissions",
        "version": privacy_budget.version.number,
        "epsilon": "1",
        "delta": "0",
        "spent": "0.25",
        "left": "0.75",
        "share": None,
        "left_for_you": "0.75",
        "rows_per_person": 1,
        "columns": services.clean_columns(privacy_budget.version, PRIVACY_COLUMNS),
        "questions": [
            {
                "id": asked["id"],
                "question": "count by ward",
                "statistic": "count",
                "job": None,
                "asked_by": "rae",
                "mechanism": asked["mechanism"],
                "epsilon": "0.25",
                "delta": "0",
                "status": "spent",
                "status_label": "Spent, being answered",
                "asked_at": body["questions"][0]["asked_at"],
            }
        ],
    }


def test_the_budget_shows_each_their_share_and_spends_newest_first(
    researcher_api, checker_api, checker, privacy_budget
):
    services.set_budget(
        version=privacy_budget.version, by=checker, epsilon=1, columns=PRIVACY_COLUMNS,
        epsilon_per_researcher="0.5",
    )  # fmt: skip
    first = ask(researcher_api, {**COUNT_BY_WARD, "epsilon": 0.1}).json()
    second = ask(researcher_api, {**COUNT_BY_WARD, "epsilon": 0.2}).json()

    mine = researcher_api.get(PRIVACY).json()
    theirs = checker_api.get(PRIVACY).json()

    assert (mine["share"], mine["left"], mine["left_for_you"]) == ("0.5", "0.7", "0.2")
    assert theirs["left_for_you"] == "0.5"  # a checker has spent nothing of a share
    assert [spend["id"] for spend in mine["questions"]] == [second["id"], first["id"]]
    assert theirs["questions"] == mine["questions"]


def test_a_version_without_a_budget_is_a_404_saying_who_sets_one(researcher_api, ready_version):
    response = researcher_api.get(PRIVACY)

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"{ready_version} has no privacy budget: a data steward sets one."
    }


@pytest.mark.parametrize(
    "path",
    [PRIVACY + "?version=9", ROOT + "/workspaces/cardiac/datasets/referrals/privacy"],
)
def test_a_version_or_dataset_not_there_is_a_404(researcher_api, privacy_budget, path):
    response = researcher_api.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- the accuracy preview --------------------------------------------------------------


def test_the_preview_says_the_accuracy_and_spends_nothing(researcher, privacy_budget):
    read_only = ApiClient(make_token(researcher, "read"))

    body = read_only.get(
        PRIVACY + "/accuracy", {"statistic": "count", "by": "ward", "epsilon": "0.5"}
    ).json()

    assert body["accuracy"]["statement"].startswith("Each count is within ±")
    assert "95 times in 100" in body["accuracy"]["statement"]
    assert body["accuracy"]["alpha"] == 0.05
    assert body["accuracy"]["mechanism"].startswith("discrete Laplace")
    assert (body["epsilon"], body["left_for_you"], body["would_overspend"]) == ("0.5", "1", False)
    assert not PrivateQuestion.objects.exists()
    assert spent(privacy_budget) == 0


def test_the_preview_groups_by_two_columns_and_says_when_it_would_overspend(
    researcher_api, privacy_budget
):
    response = researcher_api.get(
        PRIVACY + "/accuracy?statistic=count&by=ward&by=readmitted&epsilon=1.5"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["would_overspend"] is True
    assert not PrivateQuestion.objects.exists()


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"statistic": "sum", "epsilon": "0.5"}, "A sum needs a column."),
        ({"statistic": "median", "epsilon": "0.5"}, "statistic: Choose count, sum, mean"),
        ({"statistic": "count", "epsilon": "0"}, "epsilon: ε must be more than 0."),
    ],
)
def test_the_preview_names_what_is_wrong(researcher_api, privacy_budget, query, detail):
    response = researcher_api.get(PRIVACY + "/accuracy", query)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)


def test_the_preview_without_an_epsilon_is_a_422_naming_it(researcher_api, privacy_budget):
    response = researcher_api.get(PRIVACY + "/accuracy", {"statistic": "count"})

    assert response.status_code == 422
    assert response.json()["detail"].startswith("epsilon: ")


# --- asking ----------------------------------------------------------------------------


def test_asking_spends_and_answers_once_a_worker_has(researcher_api, researcher, privacy_budget):
    response = ask(researcher_api)

    assert response.status_code == 201, response.json()
    asked = response.json()
    question = PrivateQuestion.objects.get()
    assert asked == {
        "id": question.pk,
        "dataset": "admissions",
        "version": privacy_budget.version.number,
        "question": "count by ward",
        "statistic": "count",
        "column": "",
        "by": ["ward"],
        "quantile": None,
        "epsilon": "0.25",
        "delta": "0",
        "mechanism": question.mechanism,
        "status": "spent",
        "status_label": "Spent, being answered",
        "reason": "",
        "job": None,
        "asked_by": "rae",
        "asked_at": asked["asked_at"],
        "answered_at": None,
        "accuracy": question.accuracy,
        "epsilon_used": None,
        "answer": None,
        "released_by": None,
    }
    assert spent(privacy_budget) == Decimal("0.25")
    assert AuditEvent.objects.filter(action="privacy.question_asked", actor=researcher).count() == 1

    services.answer_question(question_id=question.pk)
    answered = researcher_api.get(f"{QUESTIONS}/{question.pk}").json()

    assert (answered["status"], answered["released_by"]) == ("answered", "differential privacy")
    assert answered["answer"]["columns"] == ["ward", "count"]
    assert [row[0] for row in answered["answer"]["rows"]] == [*WARDS, "(other)"]
    assert answered["answered_at"] is not None
    assert 0 < answered["epsilon_used"] <= 0.25
    assert "95 times in 100" in answered["accuracy"]["statement"]


def test_an_overspending_question_is_refused_and_nothing_is_spent(researcher_api, privacy_budget):
    ask(researcher_api, {**COUNT_BY_WARD, "epsilon": 0.75})

    response = ask(researcher_api, {**COUNT_BY_WARD, "epsilon": 0.5})

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("This needs ε 0.5, and ε 0.25 is left of admissions v")
    assert detail.endswith("Nothing was spent.")
    assert PrivateQuestion.objects.count() == 1
    assert spent(privacy_budget) == Decimal("0.75")


def test_a_question_that_cant_be_asked_spends_nothing(researcher_api, privacy_budget):
    response = ask(researcher_api, {"statistic": "mean", "column": "postcode", "epsilon": 0.5})

    assert response.status_code == 400
    assert "postcode" in response.json()["detail"]
    assert not PrivateQuestion.objects.exists()


def test_a_read_token_cannot_ask(researcher, privacy_budget):
    response = ask(ApiClient(make_token(researcher, "read")))

    assert response.status_code == 403
    assert response.json() == {"detail": tokens.READ_ONLY}
    assert not PrivateQuestion.objects.exists()


def test_a_checker_sees_budgets_and_answers_but_neither_previews_nor_asks(
    researcher_api, checker_api, privacy_budget
):
    asked = ask(researcher_api).json()
    services.answer_question(question_id=asked["id"])

    refused = ask(checker_api)
    preview = checker_api.get(PRIVACY + "/accuracy", {"statistic": "count", "epsilon": "0.1"})

    for response in (refused, preview):
        assert response.status_code == 403
        assert response.json()["detail"].startswith("Not allowed to ask questions")
    assert PrivateQuestion.objects.count() == 1
    answer = checker_api.get(f"{QUESTIONS}/{asked['id']}").json()
    assert answer["released_by"] == "differential privacy"
    assert checker_api.get(PRIVACY).json()["spent"] == "0.25"


def test_a_question_of_another_workspace_is_a_404(
    researcher_api, researcher, outsider, other_workspace, privacy_budget
):
    asked = ask(researcher_api).json()
    outsiders = ApiClient(make_token(outsider))

    for path in (
        f"{QUESTIONS}/{asked['id']}",
        f"{ROOT}/workspaces/{other_workspace.slug}/questions/{asked['id']}",
        f"{ROOT}/workspaces/{other_workspace.slug}/questions/{asked['id']}/wait",
    ):
        response = outsiders.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_each_use_is_audited(researcher_api, researcher, privacy_budget):
    asked = ask(researcher_api).json()
    researcher_api.get(f"{QUESTIONS}/{asked['id']}")

    uses = AuditEvent.objects.filter(action="api.request", actor=researcher).order_by("sequence")
    assert [(use.details["method"], use.details["status"]) for use in uses] == [
        ("POST", 201),
        ("GET", 200),
    ]


# --- the long-poll ---------------------------------------------------------------------


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setattr(privacy_selectors, "WAIT_SECONDS", 0.3)


@pytest.fixture
def asked(researcher_api, privacy_budget):
    return ask(researcher_api).json()


def test_wait_answers_an_answered_question_at_once(researcher_api, asked):
    services.answer_question(question_id=asked["id"])

    began = time.monotonic()
    body = researcher_api.get(f"{QUESTIONS}/{asked['id']}/wait").json()

    assert time.monotonic() - began < 1
    assert body["status"] == "answered"
    assert body["answer"] is not None


def test_wait_holds_while_it_is_being_answered(researcher_api, asked, short_wait):
    began = time.monotonic()
    body = researcher_api.get(f"{QUESTIONS}/{asked['id']}/wait").json()

    assert time.monotonic() - began >= 0.3
    assert (body["status"], body["answer"]) == ("spent", None)


def test_wait_answers_once_the_answer_comes(researcher_api, asked, monkeypatch):
    wait = privacy_selectors.wait_for_answer

    def answered_meanwhile(question):
        services.answer_question(question_id=question.pk)
        began = time.monotonic()
        wait(question)
        assert time.monotonic() - began < 1

    monkeypatch.setattr(privacy_selectors, "wait_for_answer", answered_meanwhile)
    body = researcher_api.get(f"{QUESTIONS}/{asked['id']}/wait").json()

    assert body["released_by"] == "differential privacy"


def test_rights_lost_while_waiting_are_a_404(
    researcher_api, researcher, asked, short_wait, monkeypatch
):
    wait = privacy_selectors.wait_for_answer

    def removed_while_waiting(question):
        Membership.objects.filter(user=researcher).delete()
        wait(question)

    monkeypatch.setattr(privacy_selectors, "wait_for_answer", removed_while_waiting)
    assert researcher_api.get(f"{QUESTIONS}/{asked['id']}/wait").status_code == 404


def test_a_token_revoked_while_waiting_gets_no_answer(researcher, asked, short_wait, monkeypatch):
    token, plaintext = tokens.create_token(user=researcher, by=researcher, name="t", scope="read")
    wait = privacy_selectors.wait_for_answer

    def revoked_while_waiting(question):
        tokens.revoke_token(token=token, by=researcher)
        wait(question)

    monkeypatch.setattr(privacy_selectors, "wait_for_answer", revoked_while_waiting)
    response = ApiClient(plaintext).get(f"{QUESTIONS}/{asked['id']}/wait")

    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_request_waits(
    researcher, privacy_budget, short_wait, monkeypatch
):
    monkeypatch.setattr(services, "queue_question", lambda question_id: None)  # no worker here
    question = services.ask_question(
        version=privacy_budget.version, by=researcher,
        question=services.question_of(statistic="count", epsilon="0.1"),
    )  # fmt: skip
    seen = []
    wait = privacy_selectors.wait_for_answer

    def watched(question):
        seen.append(connection.in_atomic_block)
        wait(question)

    monkeypatch.setattr(privacy_selectors, "wait_for_answer", watched)
    response = ApiClient(make_token(researcher, "read")).get(f"{QUESTIONS}/{question.pk}/wait")

    assert response.status_code == 200
    assert seen == [False]
