"""What the API says about a job, a dataset, a release request: what the portal's pages
show the same user, built from the same functions, and no more.

A real run is eyes-off (docs/security.md): before its outputs are released a researcher
sees only what the platform states, from fixed vocabularies. So a job's body is built
from `jobs.channels.job_view` (the job page's live part) and its fingerprint is the one
the page's long-poll compares (`jobs.live`); a real run's outputs show their names as the
page does (`shown_name`), its verdicts through `channels.verdict_for_researcher`, and
nothing the script wrote about them: no kind, no size, no description, and no checksum
or link until they are released. Its log is never in it.

A question asked with differential privacy is what its page shows: its answer is released
by the mechanism as soon as it is computed, to whoever sees the workspace's datasets, with
ε and δ as decimal strings, as the ledger keeps them.
"""

from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from jobs import airlock, channels, live
from jobs.models import Job, JobOutput, ReleaseRequest
from privacy import services as privacy_services
from privacy.models import PrivacyBudget, PrivateQuestion
from tre.permissions import REVIEW_RELEASE, VIEW_DATASETS, may
from workspaces.models import Dataset, SyntheticSample


def dataset_payload(dataset: Dataset, user) -> dict:
    """A dataset with the versions the portal lists for this user (ready ones; all of
    them for its data stewards, who decide the others)."""
    versions = [
        version
        for version in dataset.versions.order_by("number")
        if may(user, VIEW_DATASETS, version)
    ]
    ready_samples = set(
        SyntheticSample.objects.filter(
            version__in=versions, status=SyntheticSample.Status.READY
        ).values_list("version_id", flat=True)
    )
    return {
        "name": dataset.name,
        "description": dataset.description,
        "versions": [
            {
                "number": version.number,
                "status": version.status,
                "row_count": version.row_count,
                "columns": [
                    {"name": column["name"], "kind": column["kind"]}
                    for column in (version.schema or version.staged_schema)
                ],
                "sample_ready": version.pk in ready_samples,
            }
            for version in versions
        ],
    }


def job_summary(job: Job, now=None) -> dict:
    """A row of the job list: the list page's columns."""
    view = channels.job_view(job, now or timezone.now())
    return {
        "id": job.pk,
        "title": job.title,
        "mode": job.mode,
        "state": view["state"],
        "state_label": view["state_label"],
        "has_ended": view["has_ended"],
        "submitted_by": job.submitted_by.get_username(),
        "submitted_at": job.created_at,
        "runtime": view["runtime"],
    }


def job_payload(job: Job, now=None) -> dict:
    """The job page: its live part (`channels.job_view`), its datasets, a dry run's log
    and the outputs listed once the job is shown as ended."""
    view = channels.job_view(job, now or timezone.now())
    ended = view["has_ended"]
    outputs = []
    if ended:
        for output in job.outputs.all():  # in the order the page lists them
            if output.type == JobOutput.Type.LOG and not job.is_real:
                continue  # a dry run's log is the job's `log`
            outputs.append(output_payload(job, output))
    return {
        "id": job.pk,
        "title": job.title,
        "mode": job.mode,
        "state": view["state"],
        "state_label": view["state_label"],
        "has_ended": ended,
        "reason": view["reason"],
        "failure_type": view["failure_type"],
        "failure_line": view["failure_line"],
        "submitted_at": job.created_at,
        "started_at": view["started_at"],
        "runtime": view["runtime"],
        "fingerprint": live.fingerprint(view, live.queue_position(job)),
        "datasets": [
            f"{version.dataset.name}@{version.number}"
            for version in job.dataset_versions.select_related("dataset").order_by("dataset__name")
        ],
        "log": job.log if ended and not job.is_real else None,
        "outputs": outputs,
    }


def output_payload(job: Job, output: JobOutput) -> dict:
    download = reverse(
        "api:output",
        kwargs={"slug": job.workspace.slug, "job_id": job.pk, "output_id": output.pk},
    )
    if not job.is_real:
        return {
            "id": output.pk,
            "name": output.name,
            "type": output.type,
            "kind": output.kind,
            "size_bytes": output.size_bytes,
            "sha256": output.sha256,
            "download": download,
            "verdict": None,
            "released": None,
        }
    released = output.released_at is not None
    return {
        "id": output.pk,
        "name": output.shown_name,
        "type": output.type,
        "kind": None,
        "size_bytes": None,
        "sha256": output.sha256 if released else None,
        "download": download if released else None,
        "verdict": channels.verdict_for_researcher(output.verdict),
        "released": released,
    }


def release_payload(release: ReleaseRequest, user) -> dict:
    """A release request as its page shows it to `user`: the checkers see each output's
    own name, anyone else the name the job page shows."""
    is_checker = may(user, REVIEW_RELEASE, release)
    return {
        "id": release.pk,
        "job": release.job_id,
        "status": release.status,
        "status_label": release.get_status_display(),
        "items": [
            {
                "output": item.output.name if is_checker else item.output.shown_name,
                "state": airlock.item_state(item, release.round),
            }
            for item in release.items.select_related("output").order_by("pk")
        ],
    }


# --- questions answered with differential privacy ----------------------------------------


def decimal_text(value) -> str:
    """An ε or δ as people write it, and as the privacy pages show it: "0.5", "10",
    "0.000001" (not 0.500000 or 1E+1). A string, so that no float rounds it."""
    return f"{Decimal(value).normalize():f}"


def privacy_budget_payload(budget: PrivacyBudget, user) -> dict:
    """A dataset version's budget as its privacy page shows it to `user`: the figures,
    what is left for them, the declared columns and every spend."""
    now = privacy_services.standing(budget, user)
    version = budget.version
    return {
        "dataset": version.dataset.name,
        "version": version.number,
        "epsilon": decimal_text(now.epsilon),
        "delta": decimal_text(budget.delta),
        "spent": decimal_text(now.spent),
        "left": decimal_text(now.left),
        "share": None if now.share is None else decimal_text(now.share),
        "left_for_you": decimal_text(now.left_for_you),
        "rows_per_person": budget.rows_per_person,
        "columns": budget.columns,
        "questions": [
            question_summary(question) for question in budget.questions.select_related("asked_by")
        ],
    }


def question_summary(question: PrivateQuestion) -> dict:
    """A row of the privacy page's "Every spend"."""
    return {
        "id": question.pk,
        "question": question.describe(),
        "statistic": question.statistic,
        "job": question.job_id,
        "asked_by": question.asked_by.get_username(),
        "mechanism": question.mechanism,
        "epsilon": decimal_text(question.epsilon),
        "delta": decimal_text(question.delta),
        "status": question.status,
        "status_label": question.get_status_display(),
        "asked_at": question.asked_at,
    }


def question_payload(question: PrivateQuestion) -> dict:
    """A question as its page shows it: the answer, released by differential privacy,
    once a worker has computed it (until then, the accuracy it was asked with)."""
    version = question.budget.version
    answered = question.status == PrivateQuestion.Status.ANSWERED
    return {
        "id": question.pk,
        "dataset": version.dataset.name,
        "version": version.number,
        "question": question.describe(),
        "statistic": question.statistic,
        "column": question.column,
        "by": list(question.by),
        "quantile": question.quantile,
        "epsilon": decimal_text(question.epsilon),
        "delta": decimal_text(question.delta),
        "mechanism": question.mechanism,
        "status": question.status,
        "status_label": question.get_status_display(),
        "reason": question.status_reason,
        "job": question.job_id,
        "asked_by": question.asked_by.get_username(),
        "asked_at": question.asked_at,
        "answered_at": question.answered_at,
        "accuracy": question.accuracy or None,
        "epsilon_used": question.epsilon_used,
        "answer": (
            {"columns": question.answer["columns"], "rows": question.answer["rows"]}
            if answered
            else None
        ),
        "released_by": "differential privacy" if answered else None,
    }
