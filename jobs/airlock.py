"""The airlock: release requests, blinded two-person review, release.

Nothing from a real-data run leaves until output checkers have approved it here. Every
change is one function: permission first, one transaction, its audit entry inside it.
The request's states and allowed moves are `ReleaseRequest.TRANSITIONS`; who may make
each move is said by the function that makes it.
"""

from dataclasses import asdict
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from jobs import channels, disclosure
from jobs.models import (
    Job,
    JobOutput,
    ReleaseRequest,
    RequestedOutput,
    Review,
    SupportingFile,
    Vote,
)
from tre import audit, vault
from tre.permissions import REQUEST_RELEASE, REVIEW_RELEASE, authorize
from workspaces.tiers import tier_policy

Status = ReleaseRequest.Status


def approvals_required(job: Job) -> int:
    """The most any of the job's datasets' classification tiers asks for, now.

    A request keeps the most it ever needed: fixed when it is made, raised (never
    lowered) whenever it changes hands, so reclassifying a dataset downwards cannot
    make a request easier to approve."""
    return tier_policy(
        version.dataset.classification for version in job.dataset_versions.all()
    ).approvals


def _locked(request: ReleaseRequest) -> ReleaseRequest:
    """The request, locked for the change; its approvals raised if a dataset of its job
    was classified more strictly since (they never fall: see `approvals_required`)."""
    request = (
        ReleaseRequest.objects.select_for_update()
        .select_related("job__workspace")
        .get(pk=request.pk)
    )
    now_required = approvals_required(request.job)
    if now_required > request.approvals_required:
        request.approvals_required = now_required
        request.save(update_fields=["approvals_required"])
    return request


def _check_output(job: Job, output: JobOutput) -> None:
    if output.job_id != job.pk:
        raise ValidationError("That output belongs to another job.")


def create_request(*, job: Job, description: str, items, by) -> ReleaseRequest:
    """A draft request for outputs of a finished real-data run.

    `items` are (output, what it is, why it is needed) triples.
    """
    authorize(by, REQUEST_RELEASE, job)  # the job's submitter only
    if not job.is_real:
        raise ValidationError("Dry-run outputs come from synthetic data: nothing to release.")
    if not channels.is_shown_ended(job, timezone.now()) or job.status == Job.Status.CANCELLED:
        # Said the same whether the run is still going or ended but not yet shown: the
        # difference would tell when it ended (jobs.channels).
        raise ValidationError("Only the outputs of a run that has ended can be released.")
    items = list(items)
    if not items:
        raise ValidationError("Choose at least one output.")
    if not description.strip():
        raise ValidationError({"description": "Say what this release is for."})
    with transaction.atomic():
        request = ReleaseRequest.objects.create(
            job=job,
            requested_by=by,
            description=description,
            approvals_required=approvals_required(job),
        )
        for output, what_it_is, why_needed in items:
            _add_item(request, output, what_it_is, why_needed)
        audit.record(
            action="release.created",
            by=by,
            target=request,
            workspace=job.workspace,
            details={"job": job.pk, "outputs": [item[0].shown_name for item in items]},
        )
    return request


def _add_item(request, output, what_it_is, why_needed) -> RequestedOutput:
    _check_output(request.job, output)
    if not what_it_is.strip() or not why_needed.strip():
        raise ValidationError(f"Say what {output.shown_name} is and why it is needed.")
    return RequestedOutput.objects.create(
        request=request, output=output, what_it_is=what_it_is[:300], why_needed=why_needed
    )


def add_item(
    *, request: ReleaseRequest, output: JobOutput, what_it_is: str, why_needed: str, by
) -> RequestedOutput:
    """Add an output while the request is a draft (or returned)."""
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REQUEST_RELEASE, request)
        if request.status not in ReleaseRequest.EDITABLE:
            raise ValidationError("Outputs can be added only before the request is submitted.")
        if request.items.filter(output=output).exists():
            raise ValidationError(f"{output.shown_name} is already in this request.")
        item = _add_item(request, output, what_it_is, why_needed)
        audit.record(
            action="release.output_added",
            by=by,
            target=request,
            details={"output": output.shown_name},
        )
    return item


def replace_item(*, item: RequestedOutput, output: JobOutput, by) -> RequestedOutput:
    """Swap in a corrected output (from a re-run) for a returned request's item.

    The item's votes no longer count: it is reviewed again.
    """
    with transaction.atomic():
        request = _locked(item.request)
        authorize(by, REQUEST_RELEASE, request)
        if request.status != Status.RETURNED:
            raise ValidationError("Outputs are replaced only in a request returned for changes.")
        if output.job.workspace_id != request.workspace.pk or not output.job.is_real:
            raise ValidationError("The replacement must come from a real-data run here.")
        authorize(by, REQUEST_RELEASE, output.job)  # one of the researcher's own runs
        item = RequestedOutput.objects.select_for_update().get(pk=item.pk)
        before = item.output.shown_name
        item.output = output
        item.revision += 1
        item.save()
        audit.record(
            action="release.output_replaced",
            by=by,
            target=request,
            details={"before": before, "after": output.shown_name, "revision": item.revision},
        )
    return item


def add_supporting_file(*, request: ReleaseRequest, name: str, content: bytes, by):
    """Context for the checkers (never released)."""
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REQUEST_RELEASE, request)
        if request.status not in ReleaseRequest.EDITABLE | ReleaseRequest.IN_REVIEW:
            raise ValidationError("The request is closed.")
        encrypted = vault.write_encrypted("supporting", lambda sink: sink.write(content))
        supporting = SupportingFile.objects.create(
            request=request, name=name[:200], file=encrypted, size_bytes=len(content)
        )
        audit.record(
            action="release.supporting_file_added",
            by=by,
            target=request,
            details={"name": name[:200], "bytes": len(content)},
        )
    return supporting


def _checkers_of(workspace):
    from guardian.shortcuts import get_users_with_perms

    users = get_users_with_perms(
        workspace,
        only_with_perms_in=[REVIEW_RELEASE],
        with_superusers=False,
        with_group_users=False,
    )
    return [user for user in users if user.is_active and user.email]


def _notify(subject: str, body: str, recipients) -> None:
    addresses = sorted({user.email for user in recipients if user.email})
    if addresses:
        send_mail(subject, body, None, addresses, fail_silently=True)


def submit_request(*, request: ReleaseRequest, by) -> ReleaseRequest:
    """Send the request to the workspace's output checkers (again, after a return)."""
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REQUEST_RELEASE, request)
        if not request.items.exists():
            raise ValidationError("Add at least one output first.")
        request.move_to(Status.SUBMITTED)
        _compare_with_released(request)
        request.round += 1
        request.submitted_at = timezone.now()
        request.save()
        audit.record(
            action="release.submitted", by=by, target=request, details={"round": request.round}
        )
        checkers = [user for user in _checkers_of(request.workspace) if user.pk != by.pk]
        link = settings.TRE_PORTAL_URL + request.get_absolute_url()
        transaction.on_commit(
            partial(
                _notify,
                f"[TRE] Release request #{request.pk} needs review",
                f"{by.get_username()} asks to release outputs of job #{request.job_id} in "
                f"{request.workspace.name}.\n\nReview it: {link}\n",
                checkers,
            )
        )
    return request


def _compare_with_released(request: ReleaseRequest) -> None:
    """Differencing across requests: each count table of the request against the count
    tables its maker already took out from runs on any of the same dataset versions.
    The findings go beside the item, for the checkers (jobs.disclosure.differencing)."""
    versions = list(request.job.dataset_versions.all())
    released = (
        JobOutput.objects.filter(
            released_at__isnull=False,
            type=JobOutput.Type.TABLE,
            job__submitted_by=request.requested_by,
            job__dataset_versions__in=versions,
        )
        .exclude(job=request.job)
        .select_related("file")
        .distinct()
    )
    released_margins = [
        (f"{output.name} (job #{output.job_id})", margins)
        for output in released
        if (margins := _margins(output)) is not None
    ]
    fewer_than = tier_policy(version.dataset.classification for version in versions).thresholds.get(
        "min_cell_count", 10
    )
    for item in request.items.select_related("output__file"):
        found = []
        margins = _margins(item.output) if item.output.type == JobOutput.Type.TABLE else None
        if margins is not None and released_margins:
            flagged = disclosure.differencing(
                [(item.output.name, margins), *released_margins], fewer_than=fewer_than
            ).get(item.output.name)
            if flagged:
                reason = disclosure.differencing_reason(
                    flagged, fewer_than=fewer_than, released=True
                )
                found.append({**asdict(reason), "cells": []})
        if item.cross_checks != found:
            item.cross_checks = found
            item.save(update_fields=["cross_checks"])


def _margins(output: JobOutput):
    if output.file is None:
        return None
    with vault.open_encrypted(output.file) as reader:
        data = reader.read(disclosure.MAX_TABLE_BYTES + 1)
    return disclosure.margins_of(data)


def withdraw_request(*, request: ReleaseRequest, by) -> ReleaseRequest:
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REQUEST_RELEASE, request)
        request.move_to(Status.WITHDRAWN)
        request.save()
        audit.record(action="release.withdrawn", by=by, target=request)
    return request


def _review_of(request, by, *, create=False) -> Review | None:
    if create:
        review, _ = Review.objects.get_or_create(request=request, reviewer=by, round=request.round)
        return review
    return Review.objects.filter(request=request, reviewer=by, round=request.round).first()


def vote(
    *,
    request: ReleaseRequest,
    item: RequestedOutput,
    decision: str,
    by,
    comment: str = "",
    visibility: str = Vote.Visibility.CHECKERS,
) -> Vote:
    """A checker's vote on one output: approve, request changes, or reject.

    Votes can change until the request is decided, so that two checkers who disagree
    can settle it.
    """
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REVIEW_RELEASE, request)
        if request.status not in ReleaseRequest.IN_REVIEW | {Status.REVIEWED}:
            raise ValidationError("This request is not open for review.")
        if item.request_id != request.pk:
            raise ValidationError("That output is not in this request.")
        if decision not in Vote.Decision.values or visibility not in Vote.Visibility.values:
            raise ValidationError("Choose approve, request changes or reject.")
        review = _review_of(request, by, create=True)
        if request.status == Status.REVIEWED and not review.is_submitted:
            raise ValidationError("Enough reviews are in; the reviewers settle it now.")
        cast, _ = Vote.objects.update_or_create(
            review=review,
            item=item,
            defaults={
                "decision": decision,
                "comment": comment,
                "revision": item.revision,
                "comment_visibility": visibility,
            },
        )
        audit.record(
            action="release.voted",
            by=by,
            target=request,
            details={"output": item.output.shown_name, "decision": decision},
        )
        if request.status == Status.REVIEWED:
            _settle(request, by)
    return cast


def submit_review(*, request: ReleaseRequest, by) -> ReleaseRequest:
    """Seal a checker's votes for this round; only now may they see the others'."""
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REVIEW_RELEASE, request)
        if request.status not in ReleaseRequest.IN_REVIEW:
            raise ValidationError("This request is not open for review.")
        review = _review_of(request, by)
        voted = (
            {
                vote.item_id
                for vote in Vote.objects.filter(review=review)
                if vote.revision == vote.item.revision
            }
            if review
            else set()
        )
        missing = [item.output.shown_name for item in request.items.all() if item.pk not in voted]
        if missing:
            raise ValidationError(f"Vote on every output first (missing: {', '.join(missing)}).")
        review.submitted_at = timezone.now()
        review.save()
        submitted = request.reviews.filter(round=request.round, submitted_at__isnull=False)
        if submitted.count() >= request.approvals_required:
            request.move_to(Status.REVIEWED)
        elif request.status == Status.SUBMITTED:
            request.move_to(Status.PARTIALLY_REVIEWED)
        request.save()
        audit.record(
            action="release.review_submitted",
            by=by,
            target=request,
            details={"round": request.round},
        )
        if request.status == Status.REVIEWED:
            _settle(request, by)
    return request


def item_state(item: RequestedOutput, round: int) -> str:
    """approved, changes requested, rejected, conflicted or pending: from submitted votes."""
    decisions = {
        vote.decision
        for vote in item.votes.all()
        if vote.revision == item.revision
        and vote.review.round == round
        and vote.review.is_submitted
    }
    if not decisions:
        return "pending"
    if len(decisions) > 1:
        return "conflicted"
    return {"approve": "approved", "changes": "changes requested", "reject": "rejected"}[
        decisions.pop()
    ]


def _settle(request: ReleaseRequest, by) -> None:
    """Once enough reviews are in: every output approved by all of them means approved."""
    states = [item_state(item, request.round) for item in request.items.all()]
    if states and all(state == "approved" for state in states):
        request.move_to(Status.APPROVED)
        request.save()
        audit.record(action="release.approved", by=by, target=request)


def return_request(*, request: ReleaseRequest, by) -> ReleaseRequest:
    """Send a reviewed request back to the researcher with the public comments."""
    return _decide(request, by, Status.RETURNED, "returned for changes")


def reject_request(*, request: ReleaseRequest, by) -> ReleaseRequest:
    return _decide(request, by, Status.REJECTED, "rejected")


def release(*, request: ReleaseRequest, by) -> ReleaseRequest:
    """Make an approved request's outputs downloadable by the workspace's researchers."""
    return _decide(
        request, by, Status.RELEASED, "released",
        # In the decision's transaction: released and downloadable are one change.
        then=lambda request: JobOutput.objects.filter(requests__request=request).update(
            released_at=timezone.now()
        ),
    )  # fmt: skip


def _decide(request, by, status, words, then=None) -> ReleaseRequest:
    with transaction.atomic():
        request = _locked(request)
        authorize(by, REVIEW_RELEASE, request)
        request.move_to(status)
        request.decided_at = timezone.now()
        request.decided_by = by
        request.save()
        if then is not None:
            then(request)
        audit.record(action=f"release.{status}", by=by, target=request)
        researcher = get_user_model().objects.get(pk=request.requested_by_id)
        transaction.on_commit(
            partial(
                _notify,
                f"[TRE] Release request #{request.pk} {words}",
                f"Your release request #{request.pk} in {request.workspace.name} was {words} by "
                f"{by.get_username()}.\n\n{settings.TRE_PORTAL_URL}{request.get_absolute_url()}\n",
                [researcher],
            )
        )
    return request


def visible_votes(request: ReleaseRequest, viewer) -> list[Vote]:
    """The votes `viewer` may see: a checker sees their own, and the others' only once
    their own review of the round is submitted (blind review); the researcher sees the
    comments meant for them, once the request is decided or returned."""
    votes = Vote.objects.filter(review__request=request).select_related("review__reviewer", "item")
    if viewer.pk == request.requested_by_id:
        if request.status in ReleaseRequest.IN_REVIEW | {Status.DRAFT}:
            return []
        return [
            vote
            for vote in votes
            if vote.comment and vote.comment_visibility == Vote.Visibility.RESEARCHER
        ]
    own = _review_of(request, viewer)
    if own is not None and own.is_submitted:
        return list(votes)
    return [vote for vote in votes if vote.review.reviewer_id == viewer.pk]
