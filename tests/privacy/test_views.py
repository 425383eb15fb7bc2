"""The privacy pages: the steward's budget form, the question form and its accuracy
preview, an answer's page; and who sees what."""

import pytest

from privacy import services
from privacy.models import PrivacyBudget, PrivateQuestion
from tests.privacy.conftest import count_by_ward


def privacy_url(version, tail=""):
    return (
        f"/workspaces/{version.dataset.workspace.slug}/datasets/{version.dataset_id}"
        f"/v{version.number}/privacy/{tail}"
    )


def test_a_steward_declares_columns_and_sets_the_budget(client, checker, ready_version):
    schema = [column["name"] for column in ready_version.schema]
    age, ward = schema.index("age"), schema.index("ward")
    client.force_login(checker)
    response = client.post(
        privacy_url(ready_version, "budget/"),
        {
            "epsilon": "3", "delta": "0", "epsilon_per_researcher": "1", "rows_per_person": "2",
            f"kind-{age}": "numeric", f"lower-{age}": "0", f"upper-{age}": "120",
            f"bins-{age}": "12", f"kind-{ward}": "categorical",
            f"categories-{ward}": "renal, oncology, renal",
        },
    )  # fmt: skip
    assert response.status_code == 302
    budget = PrivacyBudget.objects.get()
    assert budget.columns == {
        "age": {"kind": "numeric", "lower": 0.0, "upper": 120.0, "bins": 12},
        "ward": {"kind": "categorical", "categories": ["renal", "oncology"]},
    }
    assert (budget.rows_per_person, str(budget.epsilon_per_researcher)) == (2, "1.000000")


def test_a_bad_declaration_is_shown_and_changes_nothing(client, checker, ready_version):
    ward = [column["name"] for column in ready_version.schema].index("ward")
    client.force_login(checker)
    response = client.post(
        privacy_url(ready_version, "budget/"),
        {"epsilon": "3", "rows_per_person": "1", f"kind-{ward}": "numeric",
         f"lower-{ward}": "0", f"upper-{ward}": "1"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "declare it categorical" in response.content.decode()
    assert not PrivacyBudget.objects.exists()


def test_the_preview_shows_accuracy_and_what_is_left_before_spending(
    client, researcher, privacy_budget
):
    client.force_login(researcher)
    response = client.get(
        privacy_url(privacy_budget.version, "accuracy/"),
        {"statistic": "count", "by_first": "ward", "epsilon": "0.5"},
    )
    page = response.content.decode()
    assert "95" in page
    assert "ε 1 is left" in page
    assert not PrivateQuestion.objects.exists()
    overspend = client.get(
        privacy_url(privacy_budget.version, "accuracy/"), {"statistic": "count", "epsilon": "2"}
    )
    assert "would be refused" in overspend.content.decode()


def test_the_preview_names_what_is_wrong(client, researcher, privacy_budget):
    client.force_login(researcher)
    response = client.get(
        privacy_url(privacy_budget.version, "accuracy/"), {"statistic": "sum", "epsilon": "0.5"}
    )
    assert 'data-testid="accuracy-problem"' in response.content.decode()


def test_asking_spends_and_leads_to_the_answer(
    client, researcher, privacy_budget, queued_questions, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            privacy_url(privacy_budget.version, "ask/"),
            {"statistic": "count", "by_first": "ward", "epsilon": "0.25"},
        )
    question = PrivateQuestion.objects.get()
    assert response["Location"] == question.get_absolute_url()
    assert queued_questions == [question.pk]
    services.answer_question(question_id=question.pk)
    page = client.get(question.get_absolute_url()).content.decode()
    assert "Released by differential privacy" in page
    assert "cardiology" in page
    # Answered: the wait answers at once.
    assert client.get(question.get_absolute_url() + "wait/").status_code == 200
    listing = client.get(f"/workspaces/{question.workspace.slug}/releases/").content.decode()
    assert "count by ward" in listing
    assert "released by differential privacy" in listing


def test_an_overspending_question_is_refused_on_the_page(client, researcher, privacy_budget):
    client.force_login(researcher)
    response = client.post(
        privacy_url(privacy_budget.version, "ask/"), {"statistic": "count", "epsilon": "1.5"}
    )
    assert response.status_code == 400
    assert "Nothing was spent" in response.content.decode()
    assert not PrivateQuestion.objects.exists()


def test_a_checker_sees_every_spend_and_answer(
    client, researcher, checker, privacy_budget, queued_questions
):
    question = services.ask_question(
        version=privacy_budget.version, by=researcher, question=count_by_ward()
    )
    services.answer_question(question_id=question.pk)
    client.force_login(checker)
    page = client.get(privacy_url(privacy_budget.version)).content.decode()
    assert "count by ward" in page
    assert researcher.username in page
    assert "Ask a question" not in page  # checkers don't ask
    assert client.get(question.get_absolute_url()).status_code == 200


@pytest.mark.parametrize("path", ["", "wait/"])
def test_another_workspaces_member_cannot_see_an_answer(
    client, researcher, outsider, other_workspace, privacy_budget, queued_questions, path
):
    question = services.ask_question(
        version=privacy_budget.version, by=researcher, question=count_by_ward()
    )
    client.force_login(outsider)
    # Through the question's own workspace, and through the outsider's own.
    assert client.get(question.get_absolute_url() + path).status_code == 404
    assert (
        client.get(f"/workspaces/{other_workspace.slug}/questions/{question.pk}/{path}").status_code
        == 404
    )


def test_the_version_page_names_its_budget(client, researcher, privacy_budget):
    client.force_login(researcher)
    version = privacy_budget.version
    page = client.get(privacy_url(version).removesuffix("privacy/")).content.decode()
    assert "(ε 1 for this version)" in page
    assert privacy_url(version) in page


def test_run_again_says_a_real_runs_questions_spend_again(
    client, researcher, privacy_budget, queued_questions
):
    from tests.factories import finished_real_job

    job = finished_real_job(privacy_budget.version, researcher)
    services.ask_question(
        version=privacy_budget.version, by=researcher, question=count_by_ward(), job=job
    )
    client.force_login(researcher)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "asks its 1 question with differential privacy again, and spends its ε again" in page
