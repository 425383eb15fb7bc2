"""Who the token is, the workspaces it reaches, their datasets and synthetic samples."""

from django.shortcuts import get_object_or_404
from ninja import Router

from api import payloads
from api.access import version_for, workspace_for
from api.schemas import DatasetOut, Me, WorkspaceOut
from tre.permissions import VIEW_DATASETS
from workspaces import downloads, selectors
from workspaces.models import Membership, SyntheticSample

router = Router(tags=["workspaces"])


@router.get("/me", response=Me, url_name="me")
def me(request):
    token = request.auth
    return {
        "username": token.user.get_username(),
        "token": {"name": token.name, "scope": token.scope, "expires_at": token.expires_at},
    }


@router.get("/workspaces", response=list[WorkspaceOut], url_name="workspaces")
def workspaces(request):
    """The workspaces the token's user is a member of, with their roles there."""
    user = request.auth.user
    workspaces = list(selectors.workspaces_for(user))
    roles = dict(
        Membership.objects.filter(user=user, workspace__in=workspaces).values_list(
            "workspace_id", "roles"
        )
    )
    return [
        {"slug": workspace.slug, "name": workspace.name, "roles": roles.get(workspace.pk, [])}
        for workspace in workspaces
    ]


@router.get("/workspaces/{slug}/datasets", response=list[DatasetOut], url_name="datasets")
def datasets(request, slug: str):
    user = request.auth.user
    workspace = workspace_for(user, slug, VIEW_DATASETS)
    return [payloads.dataset_payload(dataset, user) for dataset in selectors.datasets_of(workspace)]


@router.get(
    "/workspaces/{slug}/datasets/{name}/sample.csv",
    url_name="sample",
    openapi_extra={"responses": {200: {"description": "The CSV.", "content": {"text/csv": {}}}}},
)
def sample(request, slug: str, name: str, version: int | None = None):
    """The synthetic sample of a version (the newest ready one if `version` is not given)
    as the portal's download makes it: spreadsheet-safe CSV (tre.files)."""
    user = request.auth.user
    workspace = workspace_for(user, slug, VIEW_DATASETS)
    chosen = version_for(user, workspace, name, version)
    synthetic = get_object_or_404(
        SyntheticSample, version=chosen, status=SyntheticSample.Status.READY
    )
    return downloads.synthetic_sample_response(sample=synthetic, by=user)
