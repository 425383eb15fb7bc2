"""How a route finds what it is asked about, for the token's user, as the portal does.

A workspace the user is not a member of is a 404, word for word the one a missing
workspace gets; a member whose roles lack the action gets a 403 saying what is missing
(tre.permissions.authorize). A job, dataset or request is looked up inside the workspace
only, so an id from another workspace is a 404 too. No rule is written here: every
answer comes from tre.permissions.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404

from jobs.models import Job
from tre.permissions import VIEW_DATASETS, VIEW_JOBS, VIEW_WORKSPACE, authorize, may
from workspaces.models import Dataset, DatasetVersion, Workspace


def workspace_for(user, slug: str, action: str = VIEW_WORKSPACE) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None or not may(user, VIEW_WORKSPACE, workspace):
        raise Http404
    authorize(user, action, workspace)
    return workspace


def job_for(user, slug: str, job_id: int, action: str = VIEW_JOBS) -> tuple[Workspace, Job]:
    workspace = workspace_for(user, slug, action)
    return workspace, get_object_or_404(Job, pk=job_id, workspace=workspace)


def version_for(user, workspace: Workspace, name: str, number: int | None) -> DatasetVersion:
    """The dataset's version `number` (its newest ready one if None), if this user may
    see it; else a 404, as for a dataset that is not there."""
    dataset = get_object_or_404(Dataset, workspace=workspace, name=name, erased_at=None)
    if number is None:
        version = dataset.current_version()
    else:
        version = dataset.versions.filter(number=number).first()
    if version is None or not may(user, VIEW_DATASETS, version):
        raise Http404
    return version
