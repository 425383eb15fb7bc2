from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tre.permissions import GRANT_CHECKERS, MANAGE_MEMBERS, VIEW_WORKSPACE, Role, may
from workspaces import selectors, services
from workspaces.forms import AddMemberForm, MemberRolesForm, grantable_roles
from workspaces.models import Membership, Workspace


def get_workspace_for(request, slug: str, action: str = VIEW_WORKSPACE) -> Workspace:
    """The workspace if the user may do `action` to it.

    Anyone who may not see it gets a 404, exactly as for a workspace that does not
    exist; a member who lacks the action gets a 403.
    """
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None or not may(request.user, VIEW_WORKSPACE, workspace):
        raise Http404("No such workspace.")
    if not may(request.user, action, workspace):
        raise PermissionDenied
    return workspace


@login_required
def workspace_list(request):
    return render(
        request,
        "workspaces/workspace_list.html",
        {"workspaces": selectors.workspaces_for(request.user)},
    )


@login_required
def workspace_detail(request, slug):
    workspace = get_workspace_for(request, slug)
    return render(
        request,
        "workspaces/workspace_detail.html",
        {
            "workspace": workspace,
            "members": selectors.members_of(workspace),
            "my_membership": selectors.membership_of(request.user, workspace),
            "datasets": selectors.datasets_of(workspace),
            "recent_jobs": workspace.jobs.select_related("submitted_by")[:5],
        },
    )


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _grantable(request, workspace) -> list:
    return grantable_roles(may(request.user, GRANT_CHECKERS, workspace))


@login_required
def member_list(request, slug):
    workspace = get_workspace_for(request, slug, MANAGE_MEMBERS)
    grantable = _grantable(request, workspace)
    form = AddMemberForm(request.POST or None, roles=grantable)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.add_member(
                workspace=workspace,
                user=form.cleaned_data["user"],
                roles=form.cleaned_data["roles"],
                by=request.user,
            )
        except ValidationError as error:
            form.add_error(None, _error_text(error))
        else:
            messages.success(
                request, f"{membership.user} joined as {membership.get_roles_display()}."
            )
            return redirect("workspaces:members", slug=workspace.slug)
    members = [
        (
            membership,
            MemberRolesForm(
                initial={"roles": membership.roles},
                prefix=f"member-{membership.pk}",
                roles=grantable,
            ),
        )
        for membership in selectors.members_of(workspace)
    ]
    return render(
        request,
        "workspaces/member_list.html",
        {
            "workspace": workspace,
            "form": form,
            "members": members,
            "may_grant_checkers": len(grantable) == len(Role),
        },
        status=400 if form.errors else 200,
    )


def _membership_in(workspace, membership_id) -> Membership:
    return get_object_or_404(Membership, pk=membership_id, workspace=workspace)


@login_required
@require_POST
def member_roles(request, slug, membership_id):
    workspace = get_workspace_for(request, slug, MANAGE_MEMBERS)
    membership = _membership_in(workspace, membership_id)
    grantable = _grantable(request, workspace)
    form = MemberRolesForm(request.POST, prefix=f"member-{membership.pk}", roles=grantable)
    if not form.is_valid():
        messages.error(request, f"{membership.user}: {' '.join(form.errors['roles'])}")
        return redirect("workspaces:members", slug=workspace.slug)
    # Roles this person may not set (output checker, for an owner) stay as they are.
    kept = [role for role in membership.roles if role not in grantable]
    try:
        membership = services.change_member_roles(
            membership=membership, roles=form.cleaned_data["roles"] + kept, by=request.user
        )
    except ValidationError as error:
        messages.error(request, f"{membership.user}: {_error_text(error)}")
    else:
        messages.success(request, f"{membership.user} is now {membership.get_roles_display()}.")
    return redirect("workspaces:members", slug=workspace.slug)


@login_required
@require_POST
def member_remove(request, slug, membership_id):
    workspace = get_workspace_for(request, slug, MANAGE_MEMBERS)
    membership = _membership_in(workspace, membership_id)
    try:
        services.remove_member(membership=membership, by=request.user)
    except ValidationError as error:
        messages.error(request, f"{membership.user}: {_error_text(error)}")
    else:
        messages.success(request, f"{membership.user} is no longer a member.")
        if membership.user == request.user:
            return redirect("workspaces:list")
    return redirect("workspaces:members", slug=workspace.slug)
