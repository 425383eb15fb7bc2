"""Every portal URL, walked as every kind of visitor.

The matrix must name every URL the project routes (admin aside, which has its own
row): a new page without a row here fails `test_every_url_is_in_the_matrix`.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from workspaces.models import Membership

PRINCIPALS = ["anonymous", "outsider", "site_admin", "owner", "researcher", "checker"]

OK, REDIRECT, LOGIN, FORBIDDEN, NOT_FOUND = "ok", "redirect", "login", "forbidden", "not found"


def expect(anonymous, outsider, site_admin, owner, researcher, checker):
    return dict(
        zip(PRINCIPALS, [anonymous, outsider, site_admin, owner, researcher, checker], strict=True)
    )


def roles_of_target(ctx):
    return {"member-{}-roles".format(ctx["target"].pk): ["researcher", "output_checker"]}


# name -> (method, path builder, POST data builder, expected outcome per principal)
MATRIX = {
    "home": (
        "get",
        lambda ctx: "/",
        None,
        expect(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    ),
    "health": ("get", lambda ctx: "/health/", None, expect(OK, OK, OK, OK, OK, OK)),
    "accounts:login": (
        "get",
        lambda ctx: "/accounts/sign-in/",
        None,
        expect(OK, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    ),
    "accounts:logout": (
        "post",
        lambda ctx: "/accounts/sign-out/",
        None,
        expect(REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    ),
    "workspaces:list": ("get", lambda ctx: "/workspaces/", None, expect(LOGIN, OK, OK, OK, OK, OK)),
    "workspaces:detail": (
        "get",
        lambda ctx: "/workspaces/cardiac/",
        None,
        expect(LOGIN, NOT_FOUND, NOT_FOUND, OK, OK, OK),
    ),
    "workspaces:members": (
        "get",
        lambda ctx: "/workspaces/cardiac/members/",
        None,
        expect(LOGIN, NOT_FOUND, NOT_FOUND, OK, FORBIDDEN, FORBIDDEN),
    ),
    "workspaces:members#add": (
        "post",
        lambda ctx: "/workspaces/cardiac/members/",
        lambda ctx: {"user": ctx["newcomer"].username, "roles": ["researcher"]},
        expect(LOGIN, NOT_FOUND, NOT_FOUND, REDIRECT, FORBIDDEN, FORBIDDEN),
    ),
    "workspaces:member_roles": (
        "post",
        lambda ctx: f"/workspaces/cardiac/members/{ctx['target'].pk}/roles/",
        roles_of_target,
        expect(LOGIN, NOT_FOUND, NOT_FOUND, REDIRECT, FORBIDDEN, FORBIDDEN),
    ),
    "workspaces:member_remove": (
        "post",
        lambda ctx: f"/workspaces/cardiac/members/{ctx['target'].pk}/remove/",
        None,
        expect(LOGIN, NOT_FOUND, NOT_FOUND, REDIRECT, FORBIDDEN, FORBIDDEN),
    ),
    "admin": (
        "get",
        lambda ctx: "/admin/",
        None,
        expect(REDIRECT, REDIRECT, OK, REDIRECT, REDIRECT, REDIRECT),
    ),
}


def routed_names(patterns=None, namespace=""):
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                names.add("admin")
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= routed_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_is_in_the_matrix():
    listed = {name.split("#")[0] for name in MATRIX}
    assert routed_names() == listed


def outcome_of(response, path) -> str:
    if response.status_code == 200:
        return OK
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return NOT_FOUND
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/accounts/sign-in/") and "next=" in location:
            return LOGIN
        return REDIRECT
    raise AssertionError(f"{path}: unexpected status {response.status_code}")


CASES = [(name, principal) for name in MATRIX for principal in PRINCIPALS]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "principal"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_matrix(
    request, client, name, principal, workspace, owner, researcher, checker, outsider, site_admin
):
    from tests.factories import UserFactory

    ctx = {
        "target": Membership.objects.get(user=researcher, workspace=workspace),
        "newcomer": UserFactory(username="newcomer"),
    }
    method, path_of, data_of, expected = MATRIX[name]
    if principal != "anonymous":
        client.force_login(request.getfixturevalue(principal))
    memberships_before = sorted(Membership.objects.values_list("pk", "roles"))

    path = path_of(ctx)
    response = getattr(client, method)(path, data_of(ctx) if data_of else None)

    assert outcome_of(response, path) == expected[principal]
    if method == "post" and expected[principal] != REDIRECT:
        # A refused change changed nothing.
        assert sorted(Membership.objects.values_list("pk", "roles")) == memberships_before


def strip_csrf(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


@pytest.mark.django_db
def test_a_hidden_workspace_looks_exactly_like_a_missing_one(client, workspace, outsider):
    client.force_login(outsider)
    hidden = client.get(f"/workspaces/{workspace.slug}/")
    missing = client.get("/workspaces/no-such-workspace/")
    assert hidden.status_code == missing.status_code == 404
    # Equal but for the CSRF token, which Django masks afresh on every render.
    assert strip_csrf(hidden.content) == strip_csrf(missing.content)


@pytest.mark.django_db
def test_a_member_of_one_workspace_cannot_touch_memberships_of_another(
    client, workspace, other_workspace, owner, outsider
):
    # The owner of "cardiac" aims at a membership of "oncology" through their own workspace.
    foreign = Membership.objects.get(user=outsider, workspace=other_workspace)
    client.force_login(owner)
    response = client.post(f"/workspaces/{workspace.slug}/members/{foreign.pk}/remove/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()
