import re

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory
from workspaces.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_and_see_only_my_workspaces(page, sign_in, workspace, other_workspace, researcher):
    sign_in("rae")

    listing = page.get_by_test_id("workspace-list")
    expect(listing.get_by_role("link", name="Cardiac study")).to_be_visible()
    expect(page.get_by_text("Oncology study")).to_have_count(0)
    expect(page.get_by_test_id("signed-in-as")).to_have_text("rae")

    page.get_by_role("link", name="Cardiac study").click()
    expect(page.get_by_role("heading", name="Cardiac study")).to_be_visible()
    expect(page.get_by_text("Your roles: Researcher")).to_be_visible()
    expect(page.get_by_role("link", name="Manage members")).to_have_count(0)


def test_a_wrong_password_is_refused_plainly(page, workspace, researcher):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("rae")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("are not correct")


def test_an_outsider_gets_not_found(page, sign_in, workspace, outsider):
    sign_in("otto")
    response = page.goto("/workspaces/cardiac/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_owner_adds_a_member_who_then_sees_the_workspace(page, sign_in, workspace, owner):
    UserFactory(username="nia", first_name="Nia", last_name="Newcomer")
    sign_in("olu")

    page.get_by_role("link", name="Cardiac study").click()
    page.get_by_role("link", name="Manage members").click()
    form = page.get_by_test_id("add-member")
    form.get_by_label("Username or e-mail address").fill("nia")
    # Output checkers are appointed by data stewards: an owner is not offered the role.
    expect(form.get_by_label("Output checker")).to_have_count(0)
    expect(form.get_by_test_id("checkers-by-stewards")).to_be_visible()
    form.get_by_label("Researcher").check()
    form.get_by_role("button", name="Add member").click()

    expect(page.get_by_role("status")).to_contain_text("Nia Newcomer (nia) joined as Researcher")
    expect(page.locator("tr[data-member=nia]")).to_be_visible()
    assert Membership.objects.get(user__username="nia").roles == ["researcher"]

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    sign_in("nia")
    expect(page.get_by_role("link", name="Cardiac study")).to_be_visible()


def test_the_workspace_pages_jobs_fit_a_1280_pixel_screen(
    page, sign_in, workspace, researcher, ready_version
):
    # Issue 15: the jobs table used to overflow its card at 1280 px.
    from tests.factories import finished_real_job

    for number in range(5):
        finished_real_job(
            ready_version, researcher, title=f"Length of stay by ward and age band {number}"
        )
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in("rae")
    page.goto("/workspaces/cardiac/")

    jobs = page.get_by_role("region", name="Jobs")
    expect(jobs.get_by_test_id("jobs")).to_be_visible()
    overflow = jobs.evaluate("card => card.scrollWidth - card.clientWidth")
    assert overflow <= 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
