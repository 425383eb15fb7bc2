"""Release requests: who may do what, blind two-person review, the state machine."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from jobs import airlock
from jobs.models import ReleaseRequest
from tests.factories import MembershipFactory, UserFactory, finished_real_job, job_output
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db

Status = ReleaseRequest.Status


@pytest.fixture
def checker2(workspace):
    user = UserFactory(username="kai", email="kai@example.org")
    MembershipFactory(workspace=workspace, user=user, roles=["output_checker"])
    return user


def make_output(job, name):
    return job_output(job, name, verdict={"status": "pass", "reasons": [], "treatments": []})


@pytest.fixture
def real_job(ready_version, researcher):
    job = finished_real_job(ready_version, researcher)
    make_output(job, "by_ward")
    make_output(job, "by_age")
    return job


@pytest.fixture
def submitted(real_job, researcher, checker, checker2, django_capture_on_commit_callbacks):
    request = airlock.create_request(
        job=real_job,
        description="Paper table 1",
        by=researcher,
        items=[(output, "counts", "for the paper") for output in real_job.outputs.all()],
    )
    with django_capture_on_commit_callbacks(execute=True):
        return airlock.submit_request(request=request, by=researcher)


def approve_all(request, by, decision="approve", comment=""):
    for item in request.items.all():
        airlock.vote(request=request, item=item, decision=decision, by=by, comment=comment)


def test_submitting_notifies_the_checkers(submitted, checker2):
    assert submitted.status == Status.SUBMITTED
    assert submitted.round == 1
    assert len(mail.outbox) == 1
    assert "kai@example.org" in mail.outbox[0].to
    assert "needs review" in mail.outbox[0].subject


def test_restricted_data_needs_two_approvals(submitted, checker, checker2):
    assert submitted.approvals_required == 2  # the dataset is restricted
    approve_all(submitted, checker)
    request = airlock.submit_review(request=submitted, by=checker)
    assert request.status == Status.PARTIALLY_REVIEWED  # one approval is not enough
    approve_all(request, checker2)
    request = airlock.submit_review(request=request, by=checker2)
    assert request.status == Status.APPROVED


def test_internal_data_needs_one(real_job, researcher, checker, ready_version):
    dataset = ready_version.dataset
    dataset.classification = "internal"
    dataset.save()
    assert airlock.approvals_required(real_job) == 1


def test_a_researcher_cannot_approve(submitted, researcher):
    item = submitted.items.first()
    with pytest.raises(PermissionDenied):
        airlock.vote(request=submitted, item=item, decision="approve", by=researcher)
    with pytest.raises(PermissionDenied):
        airlock.release(request=submitted, by=researcher)


def test_nobody_reviews_their_own_request(real_job, workspace, researcher, site_admin):
    # Nobody holds both roles at once; but a researcher who asked for a release and
    # then became a checker (a site admin's doing) still cannot review that request.
    from workspaces import services as workspace_services
    from workspaces.models import Membership

    request = airlock.create_request(
        job=real_job,
        description="mine",
        by=researcher,
        items=[(real_job.outputs.first(), "counts", "needed")],
    )
    request = airlock.submit_request(request=request, by=researcher)
    workspace_services.change_member_roles(
        membership=Membership.objects.get(user=researcher, workspace=workspace),
        roles=["output_checker"],
        by=site_admin,
    )
    with pytest.raises(PermissionDenied, match="own release request"):
        airlock.vote(request=request, item=request.items.first(), decision="approve", by=researcher)


def test_a_researcher_cannot_ask_to_release_another_researchers_outputs(real_job, workspace):
    other = UserFactory(username="ola")
    MembershipFactory(workspace=workspace, user=other, roles=["researcher"])
    with pytest.raises(PermissionDenied, match="submitted the job"):
        airlock.create_request(
            job=real_job, description="theirs", by=other,
            items=[(real_job.outputs.first(), "counts", "needed")],
        )  # fmt: skip


def test_a_checker_of_another_workspace_sees_and_does_nothing(submitted, outsider):
    with pytest.raises(PermissionDenied):
        airlock.vote(
            request=submitted, item=submitted.items.first(), decision="approve", by=outsider
        )


def test_reviews_are_blind_until_submitted(submitted, checker, checker2):
    approve_all(submitted, checker, comment="fine by me")
    assert airlock.visible_votes(submitted, checker2) == []
    own = airlock.visible_votes(submitted, checker)
    assert {vote.review.reviewer for vote in own} == {checker}
    airlock.submit_review(request=submitted, by=checker)
    approve_all(submitted, checker2)
    assert {v.review.reviewer for v in airlock.visible_votes(submitted, checker2)} == {checker2}
    airlock.submit_review(request=submitted, by=checker2)
    assert {v.review.reviewer for v in airlock.visible_votes(submitted, checker2)} == {
        checker,
        checker2,
    }


def test_disagreement_is_conflicted_until_settled(submitted, checker, checker2):
    approve_all(submitted, checker)
    airlock.submit_review(request=submitted, by=checker)
    approve_all(submitted, checker2, decision="changes")
    request = airlock.submit_review(request=submitted, by=checker2)
    assert request.status == Status.REVIEWED
    assert {airlock.item_state(item, 1) for item in request.items.all()} == {"conflicted"}
    # They talk, and the second checker changes their mind.
    approve_all(request, checker2)
    request.refresh_from_db()
    assert request.status == Status.APPROVED


def test_returned_request_replaced_output_is_reviewed_again(
    submitted, researcher, checker, checker2, real_job
):
    approve_all(submitted, checker, decision="changes", comment="suppress small cells")
    airlock.submit_review(request=submitted, by=checker)
    approve_all(submitted, checker2, decision="changes")
    airlock.submit_review(request=submitted, by=checker2)
    request = airlock.return_request(request=submitted, by=checker)
    assert request.status == Status.RETURNED
    item = request.items.get(output__name="by_ward")
    fixed = make_output(real_job, "by_ward_fixed")
    item = airlock.replace_item(item=item, output=fixed, by=researcher)
    assert item.revision == 2
    request = airlock.submit_request(request=request, by=researcher)
    assert request.round == 2
    assert airlock.item_state(item, request.round) == "pending"


def test_researcher_sees_public_comments_only_after_return(
    submitted, researcher, checker, checker2
):
    from jobs.models import Vote

    for item in submitted.items.all():
        airlock.vote(
            request=submitted,
            item=item,
            decision="changes",
            by=checker,
            comment="please round to 5",
            visibility=Vote.Visibility.RESEARCHER,
        )
        airlock.vote(
            request=submitted,
            item=item,
            decision="changes",
            by=checker2,
            comment="internal note: suspicious",
        )
    assert airlock.visible_votes(submitted, researcher) == []
    airlock.submit_review(request=submitted, by=checker)
    airlock.submit_review(request=submitted, by=checker2)
    request = airlock.return_request(request=submitted, by=checker)
    comments = {vote.comment for vote in airlock.visible_votes(request, researcher)}
    assert comments == {"please round to 5"}


def test_release_makes_outputs_downloadable_and_is_audited(
    client, submitted, researcher, checker, checker2, django_capture_on_commit_callbacks
):
    output = submitted.items.first().output
    client.force_login(researcher)
    url = f"/workspaces/cardiac/jobs/{output.job_id}/outputs/{output.pk}/"
    assert client.get(url).status_code == 403  # not before release
    for reviewer in (checker, checker2):
        approve_all(submitted, reviewer)
        airlock.submit_review(request=submitted, by=reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        request = airlock.release(request=submitted, by=checker)
    assert request.status == Status.RELEASED
    assert "released" in mail.outbox[-1].subject
    response = client.get(url)
    assert response.status_code == 200
    assert response["X-Checksum-SHA256"] == output.sha256
    assert b"".join(response.streaming_content) == b"ward,n\nA,12\n"
    assert AuditEvent.objects.filter(action="release.downloaded", actor=researcher).exists()


def test_illegal_moves_raise(submitted, researcher, checker):
    with pytest.raises(ValueError, match="cannot go from submitted to released"):
        airlock.release(request=submitted, by=checker)  # not approved
    airlock.withdraw_request(request=submitted, by=researcher)
    with pytest.raises(ValueError, match="cannot go from withdrawn"):
        airlock.submit_request(request=submitted, by=researcher)


def test_a_review_needs_a_vote_on_every_output(submitted, checker):
    airlock.vote(request=submitted, item=submitted.items.first(), decision="approve", by=checker)
    with pytest.raises(ValidationError, match="Vote on every output"):
        airlock.submit_review(request=submitted, by=checker)


def test_dry_runs_have_nothing_to_release(finished_job, researcher):
    with pytest.raises(ValidationError, match="synthetic"):
        airlock.create_request(
            job=finished_job,
            description="x",
            by=researcher,
            items=[(finished_job.outputs.first(), "a", "b")],
        )


def test_a_release_form_with_a_mistake_comes_back_filled_in(client, real_job, researcher):
    client.force_login(researcher)
    output = real_job.outputs.get(name="by_ward")
    response = client.post(
        f"/workspaces/cardiac/jobs/{real_job.pk}/release/",
        {"description": "Table 1", f"include-{output.pk}": "on", f"what-{output.pk}": "counts"},
        follow=True,
    )
    content = response.content.decode()
    assert "Say what by_ward is and why it is needed." in content
    assert 'value="counts"' in content
    assert "checked" in content
    assert not ReleaseRequest.objects.exists()


def test_reclassifying_a_dataset_never_lowers_what_a_request_needs(
    submitted, ready_version, checker
):
    from workspaces import services as workspace_services

    needed = submitted.approvals_required
    dataset = ready_version.dataset
    with pytest.raises(ValidationError, match="Say why"):
        workspace_services.update_dataset(
            dataset=dataset, classification="public", description="", by=checker
        )
    workspace_services.update_dataset(
        dataset=dataset, classification="public", description="", by=checker, reason="test"
    )
    airlock.vote(request=submitted, item=submitted.items.first(), decision="approve", by=checker)
    submitted.refresh_from_db()
    assert submitted.approvals_required == needed
    workspace_services.update_dataset(
        dataset=dataset, classification="restricted", description="", by=checker, reason="up"
    )
    airlock.vote(request=submitted, item=submitted.items.first(), decision="approve", by=checker)
    submitted.refresh_from_db()
    assert submitted.approvals_required == max(needed, 2)


def test_a_table_a_few_people_from_one_already_released_is_flagged_for_checkers(
    client, submitted, researcher, checker, checker2, ready_version
):
    # Issue 12: differencing across requests. The released table counts 200 women; the
    # new one, from another run on the same data, 197: together they count 3 people.
    for reviewer in (checker, checker2):
        approve_all(submitted, reviewer)
        airlock.submit_review(request=submitted, by=reviewer)
    airlock.release(request=submitted, by=checker)
    first = finished_real_job(ready_version, researcher)
    job_output(first, "women", b"sex,n\nFemale,200\nMale,150\n", released_at=timezone.now())
    second = finished_real_job(ready_version, researcher)
    close = job_output(second, "women_over_17", b"sex,n\nFemale,197\nMale,150\n")
    far = job_output(second, "by_ward_again", b"ward,n\nA,12\n")

    request = airlock.create_request(
        job=second,
        description="Table 2",
        by=researcher,
        items=[(close, "counts", "paper"), (far, "counts", "paper")],
    )
    airlock.submit_request(request=request, by=researcher)

    flagged = request.items.get(output=close).cross_checks
    assert [finding["rule"] for finding in flagged] == ["differencing"]
    assert '"women (job #' in flagged[0]["message"]
    assert "already released" in flagged[0]["message"]
    assert request.items.get(output=far).cross_checks == []
    client.force_login(checker)
    page = client.get(request.get_absolute_url()).content.decode()
    assert 'data-testid="cross-checks"' in page
    client.force_login(researcher)
    assert "cross-checks" not in client.get(request.get_absolute_url()).content.decode()
