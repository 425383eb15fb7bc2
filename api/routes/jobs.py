"""Jobs: list, submit, follow (the long-poll), and their outputs' files.

A job's body is the job page's (api.payloads); a submission goes through
`jobs.services.submit_job`; an output's file leaves through `tre.files` as on the portal,
a real run's only once released, to a researcher.
"""

from django.utils import timezone
from ninja import Query, Router, Status

from api import payloads
from api.access import job_for, workspace_for
from api.auth import ApiError
from api.schemas import Error, JobIn, JobOut, JobSummary
from jobs import downloads, live, services
from jobs.models import Job
from tre.permissions import SUBMIT_JOBS, VIEW_DATASETS, VIEW_JOBS, may
from workspaces.models import Dataset

router = Router(tags=["jobs"])

JOB = "/workspaces/{slug}/jobs/{int:job_id}"
MOST_JOBS = 100


@router.get("/workspaces/{slug}/jobs", response=list[JobSummary], url_name="jobs")
def jobs(request, slug: str, limit: int = Query(MOST_JOBS, ge=1, le=MOST_JOBS)):
    """The workspace's jobs, newest first."""
    workspace = workspace_for(request.auth.user, slug, VIEW_JOBS)
    now = timezone.now()
    listed = Job.objects.filter(workspace=workspace).select_related("submitted_by")[:limit]
    return [payloads.job_summary(job, now) for job in listed]


@router.post(
    "/workspaces/{slug}/jobs",
    response={201: JobOut, 400: Error, 403: Error},
    url_name="jobs",
)
def submit(request, slug: str, body: JobIn):
    """Submit a script as a dry run (on the synthetic samples) or a real run."""
    user = request.auth.user
    workspace = workspace_for(user, slug, SUBMIT_JOBS)
    job = services.submit_job(
        workspace=workspace,
        script=body.script,
        dataset_versions=_versions(workspace, user, body.datasets),
        mode=body.mode,
        title=body.title,
        by=user,
    )
    return Status(201, payloads.job_payload(job))


def _versions(workspace, user, names: list[str]):
    """ "admissions" is its newest ready version, "admissions@2" its version 2; only the
    versions this user may see exist (a data steward's undecided upload, for anyone
    else, does not). Whether they can run is submit_job's to say."""
    versions = []
    for entry in names:
        name, at, number = entry.partition("@")
        dataset = Dataset.objects.filter(workspace=workspace, name=name, erased_at=None).first()
        if dataset is None:
            raise ApiError(400, f"datasets: this workspace has no dataset called {name!r}.")
        if not at:
            version = dataset.current_version()
            if version is None:
                raise ApiError(400, f"datasets: {name} has no ready version yet.")
        else:
            version = (
                dataset.versions.filter(number=int(number)).first() if number.isdigit() else None
            )
            if version is None or not may(user, VIEW_DATASETS, version):
                raise ApiError(400, f"datasets: {name} has no version {number!r}.")
        versions.append(version)
    return versions


@router.get(JOB, response=JobOut, url_name="job")
def job(request, slug: str, job_id: int):
    _, job = job_for(request.auth.user, slug, job_id)
    return payloads.job_payload(job)


@router.get(JOB + "/wait", response=JobOut, url_name="job_wait")
def job_wait(request, slug: str, job_id: int, shown: str | None = None):
    """The job, answered once its fingerprint differs from `shown` or after 30 s: the
    portal's long-poll (jobs.live), so a real run changes only at its reveal moments.
    No transaction is open while it waits (no ATOMIC_REQUESTS; autocommit reads)."""
    token = request.auth
    _, job = job_for(token.user, slug, job_id)
    live.wait_for_change(job, shown)
    # Again: the token or the rights may have gone while it waited.
    token.refresh_from_db(fields=["revoked_at", "expires_at"])
    if not token.is_live:
        raise ApiError(401, "This API token was revoked or expired while the request waited.")
    token.user.refresh_from_db()
    _, job = job_for(token.user, slug, job_id)
    return payloads.job_payload(job)


@router.get(
    JOB + "/outputs/{int:output_id}",
    url_name="output",
    openapi_extra={
        "responses": {
            200: {"description": "The file, with X-Checksum-SHA256 (its SHA-256)."},
        }
    },
)
def output(request, slug: str, job_id: int, output_id: int):
    """An output's file: a dry run's, or a real run's once released (researchers)."""
    _, job = job_for(request.auth.user, slug, job_id)
    return downloads.output_response(job=job, output_id=output_id, by=request.auth.user)
