"""Release requests: ask for a real run's outputs (created and submitted for review in
one go, through `jobs.airlock`), and follow one. Reviewing and releasing stay in the
portal, with the checkers: the API has no route for them."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Status

from api import payloads
from api.access import job_for, workspace_for
from api.auth import ApiError
from api.schemas import Error, ReleaseIn, ReleaseOut
from jobs import airlock, channels
from jobs.models import Job, ReleaseRequest
from tre import audit
from tre.permissions import REQUEST_RELEASE, VIEW_RELEASE, authorize

router = Router(tags=["releases"])


@router.post(
    "/workspaces/{slug}/jobs/{int:job_id}/release",
    response={201: ReleaseOut, 400: Error, 403: Error},
    url_name="release_new",
)
def release_new(request, slug: str, job_id: int, body: ReleaseIn):
    """Ask the output checkers to release outputs of one's own real run. The
    justification is the request's description and each output's reason."""
    user = request.auth.user
    _, job = job_for(user, slug, job_id, REQUEST_RELEASE)
    authorize(user, REQUEST_RELEASE, job)  # the job's submitter only
    items = [
        (output, output.shown_name, body.justification)
        for output in _chosen_outputs(job, body.outputs)
    ]
    with transaction.atomic():  # created and submitted, or neither
        release = airlock.create_request(
            job=job, description=body.justification, items=items, by=user
        )
        release = airlock.submit_request(request=release, by=user)
    return Status(201, payloads.release_payload(release, user))


def _chosen_outputs(job: Job, wanted: list[int | str]):
    """The outputs named by id or by the name the job page shows (never by a hidden
    name: a match would confirm it). A run not shown as ended has none to choose, and
    `airlock.create_request` says so the same way whether or not it has really ended."""
    if not channels.is_shown_ended(job, timezone.now()) or job.status == Job.Status.CANCELLED:
        return []
    outputs = list(job.outputs.all())
    chosen = []
    for key in wanted:
        found = [output for output in outputs if _names(output, key)]
        if not found:
            raise ApiError(400, f"outputs: job #{job.pk} has no output {key!r}.")
        if len(found) > 1:
            raise ApiError(400, f"outputs: more than one output is called {key!r}: use its id.")
        if found[0] not in chosen:
            chosen.append(found[0])
    return chosen


def _names(output, key: int | str) -> bool:
    if isinstance(key, int):
        return output.pk == key
    return output.shown_name == key or (key.isdigit() and output.pk == int(key))


@router.get("/workspaces/{slug}/releases/{int:release_id}", response=ReleaseOut, url_name="release")
def release(request, slug: str, release_id: int):
    """A release request: its researcher's and the workspace's output checkers'."""
    user = request.auth.user
    workspace = workspace_for(user, slug)
    release = get_object_or_404(ReleaseRequest, pk=release_id, job__workspace=workspace)
    authorize(user, VIEW_RELEASE, release)
    audit.record(action="release.viewed", by=user, target=release, workspace=workspace)
    return payloads.release_payload(release, user)
