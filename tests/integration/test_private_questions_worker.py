"""Questions with differential privacy through the real broker and a real worker: asked
from the portal's service, and asked by a script (its dry run's questions, asked again
with its real run, whatever the real run does)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from jobs import services as job_services
from jobs.models import Job
from privacy import services
from privacy.models import PrivateQuestion
from tests.integration.conftest import wait_for_status
from tre.demo import PRIVACY_COLUMNS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WARDS = PRIVACY_COLUMNS["ward"]["categories"]
ASKING = """
import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
tre_sdk.dp.count(admissions, by=["ward"], epsilon=0.3)
tre_sdk.dp.mean(admissions, "length_of_stay", epsilon=0.2)
# On the real data a hostile script would choose its questions from what it saw: the
# platform never reads a real run's questions, so this changes nothing.
if len(admissions) == 300:
    tre_sdk.dp.count(admissions, by=["readmitted"], epsilon=5)
print("asked")
"""


@pytest.fixture
def version(worker_version, checker):
    services.set_budget(version=worker_version, by=checker, epsilon=2, columns=PRIVACY_COLUMNS)
    return worker_version


def test_a_question_from_the_portal_is_answered_by_a_worker(version, researcher):
    question = services.ask_question(
        version=version, by=researcher,
        question=services.question_of(statistic="count", epsilon="0.5", by=["ward"]),
    )  # fmt: skip
    question = wait_for_status(question, {"answered", "refunded"}, seconds=60)
    assert question.status == PrivateQuestion.Status.ANSWERED, question.status_reason
    assert [row[0] for row in question.answer["rows"]][: len(WARDS)] == WARDS
    # Noisy counts near the truth: the 300 rows are all in the declared wards.
    total = sum(row[1] for row in question.answer["rows"])
    assert abs(total - 300) < 60


def test_a_real_run_asks_exactly_its_dry_runs_questions(version, workspace, researcher):
    def submit(mode):
        return job_services.submit_job(
            workspace=workspace, script=ASKING, dataset_versions=[version], mode=mode,
            by=researcher,
        )  # fmt: skip

    # Without a dry run of this script, the real run is refused and nothing is spent.
    with pytest.raises(ValidationError, match="dry-run this script"):
        submit(Job.Mode.REAL)

    dry = wait_for_status(submit(Job.Mode.DRY_RUN), Job.ENDED)
    assert dry.status == Job.Status.FINISHED, dry.status_reason
    asked = dry.private_questions_asked
    assert [(entry["statistic"], entry["epsilon"]) for entry in asked] == [
        ("count", "0.300000"),
        ("mean", "0.200000"),
    ]
    assert [row[0] for row in asked[0]["practice"]["rows"]][: len(WARDS)] == WARDS
    assert "95" in asked[0]["accuracy"]
    assert not PrivateQuestion.objects.exists()  # practice spends nothing

    real = submit(Job.Mode.REAL)
    questions = list(PrivateQuestion.objects.filter(job=real).order_by("pk"))
    assert [(q.statistic, q.epsilon) for q in questions] == [
        ("count", Decimal("0.3")),
        ("mean", Decimal("0.2")),
    ]
    assert services.spent_of(questions[0].budget) == Decimal("0.5")
    for question in questions:
        question = wait_for_status(question, {"answered", "refunded"}, seconds=60)
        assert question.status == PrivateQuestion.Status.ANSWERED, question.status_reason
    real = wait_for_status(real, Job.ENDED)
    # The real run's own extra question (ε 5, chosen on the real data) was never asked.
    assert PrivateQuestion.objects.count() == 2
    assert services.spent_of(questions[0].budget) == Decimal("0.5")
    assert real.private_questions_asked == []
