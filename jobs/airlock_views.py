"""The airlock's pages: request a release, review it blind, release, download."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from jobs import airlock, channels
from jobs.models import Job, JobOutput, ReleaseRequest, RequestedOutput, SupportingFile, Vote
from jobs.views import output_preview
from privacy import selectors as privacy_selectors
from tre import audit, files
from tre.permissions import REQUEST_RELEASE, REVIEW_RELEASE, VIEW_RELEASE, authorize, may
from workspaces.views import get_workspace_for

MAX_SUPPORTING_BYTES = 5 * 1024**2


def _release_for(request, slug, request_id, action=VIEW_RELEASE):
    """The request if the user may do `action` to it (tre.permissions); 403 if not."""
    workspace = get_workspace_for(request, slug)
    release = get_object_or_404(ReleaseRequest, pk=request_id, job__workspace=workspace)
    authorize(request.user, action, release)
    return workspace, release


@login_required
def release_new(request, slug, job_id):
    workspace = get_workspace_for(request, slug, REQUEST_RELEASE)
    job = get_object_or_404(Job, pk=job_id, workspace=workspace, mode=Job.Mode.REAL)
    authorize(request.user, REQUEST_RELEASE, job)  # the job's submitter only
    if not channels.is_shown_ended(job, timezone.now()):
        # Until its reveal moment a real run has no outputs to show, stored or not: the
        # difference would tell when it ended (jobs.channels).
        raise Http404("No outputs to release yet.")
    # In the order its page shows them (jobs.channels.label_outputs), never by the file
    # names the script chose, which may be hidden.
    outputs = list(job.outputs.order_by("position", "pk"))
    if request.method == "POST":
        items = [
            (
                output,
                request.POST.get(f"what-{output.pk}", ""),
                request.POST.get(f"why-{output.pk}", ""),
            )
            for output in outputs
            if request.POST.get(f"include-{output.pk}")
        ]
        try:
            release = airlock.create_request(
                job=job,
                description=request.POST.get("description", ""),
                items=items,
                by=request.user,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            return redirect(release.get_absolute_url())
    # After an error the form comes back as it was filled in.
    choices = [
        {
            "output": output,
            "verdict": channels.verdict_for_researcher(output.verdict),
            "included": bool(request.POST.get(f"include-{output.pk}")),
            # Never the description written inside the sandbox: the researcher says what
            # an output is, outside it (the checkers see both).
            "what": request.POST.get(f"what-{output.pk}", ""),
            "why": request.POST.get(f"why-{output.pk}", ""),
        }
        for output in outputs
    ]
    return render(
        request,
        "jobs/release_new.html",
        {
            "workspace": workspace,
            "job": job,
            "choices": choices,
            "description": request.POST.get("description", ""),
        },
    )


@login_required
def release_list(request, slug):
    workspace = get_workspace_for(request, slug, VIEW_RELEASE)
    releases = ReleaseRequest.objects.filter(job__workspace=workspace).select_related(
        "requested_by", "job"
    )
    if not may(request.user, REVIEW_RELEASE, workspace):
        releases = releases.filter(requested_by=request.user)
    return render(
        request,
        "jobs/release_list.html",
        {
            "workspace": workspace,
            "releases": releases,
            "private_answers": privacy_selectors.released_answers(workspace),
        },
    )


@login_required
def release_detail(request, slug, request_id):
    workspace, release = _release_for(request, slug, request_id)
    is_checker = may(request.user, REVIEW_RELEASE, release)
    audit.record(action="release.viewed", by=request.user, target=release, workspace=workspace)
    votes = airlock.visible_votes(release, request.user)
    own_review = airlock._review_of(release, request.user) if is_checker else None
    items = []
    for item in release.items.select_related("output__job"):
        item_votes = [vote for vote in votes if vote.item_id == item.pk]
        items.append(
            {
                "item": item,
                "state": airlock.item_state(item, release.round),
                "votes": item_votes,
                "my_vote": next(
                    (
                        vote
                        for vote in item_votes
                        if vote.review.reviewer_id == request.user.pk
                        and vote.review.round == release.round
                    ),
                    None,
                ),
                "preview": output_preview(item.output) if is_checker else {},
                "researcher_verdict": channels.verdict_for_researcher(item.output.verdict),
            }
        )
    return render(
        request,
        "jobs/release_detail.html",
        {
            "workspace": workspace,
            "release": release,
            "items": items,
            "is_checker": is_checker,
            "is_requester": may(request.user, REQUEST_RELEASE, release),
            "own_review": own_review,
            "reviews": release.reviews.filter(
                round=release.round, submitted_at__isnull=False
            ).count(),
            "job": release.job,
            "datasets": release.job.dataset_versions.select_related("dataset"),
            "decisions": Vote.Decision.choices,
            "visibilities": Vote.Visibility.choices,
            "addable": release.job.outputs.exclude(requests__request=release)
            if release.status in ReleaseRequest.EDITABLE
            else [],
            "replacements": _replacements(release)
            if release.status == ReleaseRequest.Status.RETURNED
            else [],
        },
    )


def _replacements(release) -> list[JobOutput]:
    """Outputs that may replace one in a returned request: of the researcher's own real
    runs shown as ended (one that ended but is not shown yet must not appear here first:
    jobs.channels)."""
    now = timezone.now()
    candidates = (
        JobOutput.objects.filter(
            job__workspace=release.workspace,
            job__mode=Job.Mode.REAL,
            job__submitted_by=release.requested_by_id,
        )
        .exclude(job__status=Job.Status.CANCELLED)
        .select_related("job")
        .order_by("-job__created_at", "position")[:200]
    )
    return [output for output in candidates if channels.is_shown_ended(output.job, now)][:100]


def _item(release, request):
    return get_object_or_404(RequestedOutput, pk=request.POST.get("item"), request=release)


ACTIONS = {
    "submit": lambda release, request: airlock.submit_request(request=release, by=request.user),
    "withdraw": lambda release, request: airlock.withdraw_request(request=release, by=request.user),
    "vote": lambda release, request: airlock.vote(
        request=release,
        item=_item(release, request),
        decision=request.POST.get("decision", ""),
        comment=request.POST.get("comment", ""),
        visibility=request.POST.get("visibility", Vote.Visibility.CHECKERS),
        by=request.user,
    ),
    "submit_review": lambda release, request: airlock.submit_review(
        request=release, by=request.user
    ),
    "return": lambda release, request: airlock.return_request(request=release, by=request.user),
    "reject": lambda release, request: airlock.reject_request(request=release, by=request.user),
    "release": lambda release, request: airlock.release(request=release, by=request.user),
    "add": lambda release, request: airlock.add_item(
        request=release,
        output=get_object_or_404(JobOutput, pk=request.POST.get("output"), job=release.job),
        what_it_is=request.POST.get("what", ""),
        why_needed=request.POST.get("why", ""),
        by=request.user,
    ),
    "replace": lambda release, request: airlock.replace_item(
        item=_item(release, request),
        by=request.user,
        output=get_object_or_404(
            JobOutput, pk=request.POST.get("output"), job__workspace=release.workspace
        ),
    ),
}


@login_required
@require_POST
def release_action(request, slug, request_id, action):
    if action not in ACTIONS:
        raise Http404
    _, release = _release_for(request, slug, request_id)
    try:
        ACTIONS[action](release, request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except ValueError as error:  # an illegal transition: say so, change nothing
        messages.error(request, str(error))
    else:
        messages.success(request, "Done.")
    return redirect(release.get_absolute_url())


@login_required
@require_POST
def release_supporting_file(request, slug, request_id):
    _, release = _release_for(request, slug, request_id)
    upload = request.FILES.get("file")
    if upload is None or upload.size > MAX_SUPPORTING_BYTES:
        messages.error(request, "Choose a file of at most 5 MB.")
        return redirect(release.get_absolute_url())
    try:
        airlock.add_supporting_file(
            request=release, name=upload.name, content=upload.read(), by=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(release.get_absolute_url())


@login_required
def release_item_file(request, slug, request_id, item_id):
    """An output under review, for the checkers (never its requester before release)."""
    _, release = _release_for(request, slug, request_id, REVIEW_RELEASE)
    item = get_object_or_404(RequestedOutput, pk=item_id, request=release)
    audit.record(
        action="release.output_viewed",
        by=request.user,
        target=release,
        details={"output": item.output.name},
    )
    if item.output.file is None:
        raise Http404
    return files.stored_file_response(
        item.output.file,
        filename=item.output.filename,
        # The review page's <img>, and only if the bytes really are a PNG.
        inline_image=item.output.type == JobOutput.Type.FIGURE
        and request.GET.get("download") != "1",
        checksum=item.output.sha256,
    )


@login_required
def supporting_file_download(request, slug, request_id, file_id):
    """A supporting file of a request, for its checkers and its requester: an attachment."""
    workspace, release = _release_for(request, slug, request_id)
    supporting = get_object_or_404(SupportingFile, pk=file_id, request=release)
    if supporting.file is None:
        raise Http404
    audit.record(
        action="release.supporting_file_viewed",
        by=request.user,
        target=release,
        workspace=workspace,
        details={"name": supporting.name, "supporting_file": supporting.pk},
    )
    return files.stored_file_response(
        supporting.file, filename=supporting.name, checksum=supporting.file.sha256
    )
