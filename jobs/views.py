"""Job pages: write and submit, follow live, cancel, re-run, see dry-run outputs.

A real-data run's outputs are not shown here: they wait in the airlock.
"""

import csv
import io
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import UnreadablePostError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from jobs import channels, downloads, live, services
from jobs.forms import EXAMPLE_SCRIPT, JobForm
from jobs.models import Job, JobOutput
from jobs.uploads import ScriptUploadHandler
from privacy import selectors as privacy_selectors
from tre import vault
from tre.permissions import CANCEL_JOB, REQUEST_RELEASE, SUBMIT_JOBS, VIEW_JOBS, authorize, may
from workspaces.views import get_workspace_for

PREVIEW_ROWS = 200


def _job_for(request, slug, job_id, action=VIEW_JOBS):
    workspace = get_workspace_for(request, slug, action)
    return workspace, get_object_or_404(Job, pk=job_id, workspace=workspace)


@login_required
def job_list(request, slug):
    workspace = get_workspace_for(request, slug, VIEW_JOBS)
    jobs = Job.objects.filter(workspace=workspace).select_related("submitted_by")[:200]
    return render(request, "jobs/job_list.html", {"workspace": workspace, "jobs": jobs})


@csrf_exempt
@login_required
def job_new(request, slug):
    """Write and submit a job.

    Django's CSRF check reads the body, and a script over DATA_UPLOAD_MAX_MEMORY_SIZE makes
    that read fail with a bare 400. So the route is CSRF-exempt and its inner step is
    protected instead (as the dataset uploads are), after an unreadable body has had the
    form back with the reason: that answer changes nothing, so it needs no token. The
    rights are checked before any of the body is read.
    """
    workspace = get_workspace_for(request, slug, SUBMIT_JOBS)
    request.upload_handlers = [ScriptUploadHandler(request)]
    if request.method == "POST":
        try:
            request.POST  # noqa: B018 (read here, where its failure can be answered)
        except RequestDataTooBig:
            _discard_rest_of_body(request)
            form = JobForm(workspace=workspace, initial={"script": EXAMPLE_SCRIPT})
            form.refuse_unread(
                services.script_too_large_message(None)
                + " It was not kept: shorten it and paste it again."
            )
            return _job_form_page(request, workspace, form, status=413)
    return _submit_job(request, workspace)


def _discard_rest_of_body(request) -> None:
    """Read what is left of the request, keeping none of it. A server that answers while
    the browser is still sending closes the connection on it, and the browser shows that
    reset instead of the answer. Costs what an upload of the same size would."""
    try:
        while request.read(64 * 1024):
            pass
    except UnreadablePostError:
        pass  # the browser has gone: nobody is waiting for the answer


@csrf_protect
def _submit_job(request, workspace):
    initial = {"script": EXAMPLE_SCRIPT}
    rerun_of = request.GET.get("from")
    if rerun_of and rerun_of.isdigit():
        source = Job.objects.filter(pk=rerun_of, workspace=workspace).first()
        if source is not None:
            initial = {
                "script": source.script,
                "title": source.title,
                "dataset_versions": list(source.dataset_versions.all()),
            }
    form = JobForm(
        request.POST or None, request.FILES or None, workspace=workspace, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        mode = Job.Mode.REAL if "run_real" in request.POST else Job.Mode.DRY_RUN
        try:
            job = services.submit_job(
                workspace=workspace,
                script=form.cleaned_data["script"],
                dataset_versions=form.cleaned_data["dataset_versions"],
                mode=mode,
                title=form.cleaned_data["title"],
                by=request.user,
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error.messages)
        else:
            return redirect(job.get_absolute_url())
    return _job_form_page(request, workspace, form, status=400 if form.errors else 200)


def _job_form_page(request, workspace, form, *, status):
    used, frees_at = services.real_runs_used(workspace=workspace, user=request.user)
    return render(
        request,
        "jobs/job_new.html",
        {
            "workspace": workspace,
            "form": form,
            "real_runs": {
                "used": used,
                "quota": workspace.real_runs_per_day,
                "left": max(0, workspace.real_runs_per_day - used),
                "frees_at": frees_at,
            },
        },
        status=status,
    )


def output_preview(output: JobOutput) -> dict:
    """How an output shows on a page: a table, a number or text (figures are images).

    Used for dry runs on the job page and for checkers on a release request."""
    if output.file is None or output.type == JobOutput.Type.FIGURE:
        return {}
    with vault.open_encrypted(output.file) as reader:
        data = reader.read(2 * 1024**2)
    if output.type == JobOutput.Type.FILE:
        try:
            return {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            return {}  # binary: nothing a page can show
    text = data.decode("utf-8", errors="replace")
    if output.type == JobOutput.Type.TABLE:
        rows = list(csv.reader(io.StringIO(text)))
        return {
            "header": rows[0] if rows else [],
            "rows": rows[1 : PREVIEW_ROWS + 1],
            "more": max(0, len(rows) - 1 - PREVIEW_ROWS),
        }
    if output.type == JobOutput.Type.METRIC:
        try:
            return {"value": json.loads(text).get("value")}
        except (ValueError, AttributeError):
            return {"text": text}
    return {"text": text}


def _context(request, workspace, job):
    """The job page's context. Of a real run, only what jobs.channels lets through: the
    page is the researcher's, and everything the script produced is for the checkers."""
    view = channels.job_view(job, timezone.now())
    queue_position = live.queue_position(job)
    outputs = []
    if view["has_ended"]:
        for output in job.outputs.select_related("file"):
            if output.type == JobOutput.Type.LOG and not job.is_real:
                continue
            outputs.append(
                {"output": output, "verdict": channels.verdict_for_researcher(output.verdict)}
                if job.is_real
                else {"output": output, "preview": output_preview(output)}
            )
    return {
        "workspace": workspace,
        "job": job,
        "job_view": view,
        "datasets": job.dataset_versions.select_related("dataset"),
        "outputs": outputs,
        "queue_position": queue_position,
        "shown": live.fingerprint(view, queue_position),
        "can_submit": may(request.user, SUBMIT_JOBS, job),
        "can_cancel": may(request.user, CANCEL_JOB, job),
        "can_request_release": job.is_real
        and view["has_ended"]
        and job.status != Job.Status.CANCELLED
        and may(request.user, REQUEST_RELEASE, job),
    }


@login_required
def job_detail(request, slug, job_id):
    workspace, job = _job_for(request, slug, job_id)
    context = _context(request, workspace, job)
    # A real run's questions were spent at its submission, and their answers never
    # depend on what the run does: outside the live part, which follows the run.
    context["private_questions"] = privacy_selectors.questions_of_job(job) if job.is_real else []
    return render(request, "jobs/job_detail.html", context)


@login_required
def job_status(request, slug, job_id):
    """The live part of the job page as it is now (the page follows it with status_wait)."""
    workspace, job = _job_for(request, slug, job_id)
    return render(request, "jobs/includes/job_live.html", _context(request, workspace, job))


@login_required
def job_status_wait(request, slug, job_id):
    """The live part of the job page, answered once it differs from what the page shows
    (`?shown=`, the fragment's fingerprint) or after jobs.live.WAIT_SECONDS: the page
    asks again at once. The answer is the status view's at that moment (jobs/live.py)."""
    _, job = _job_for(request, slug, job_id)
    live.wait_for_change(job, request.GET.get("shown"))
    # Again: the rights may have gone while it waited, and the job is loaded in full.
    workspace, job = _job_for(request, slug, job_id)
    return render(request, "jobs/includes/job_live.html", _context(request, workspace, job))


@login_required
@require_POST
def job_cancel(request, slug, job_id):
    _, job = _job_for(request, slug, job_id)
    try:
        services.cancel_job(job=job, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if job.is_real:  # queued or running is one state for a real run (jobs.channels)
            messages.success(request, "Cancel requested.")
        else:
            messages.success(
                request, "Cancelled." if job.status == Job.Status.QUEUED else "Stopping the job."
            )
    return redirect(job.get_absolute_url())


@login_required
@require_POST
def job_rerun(request, slug, job_id):
    _, job = _job_for(request, slug, job_id, SUBMIT_JOBS)
    authorize(request.user, SUBMIT_JOBS, job)  # one's own job only
    try:
        new = services.rerun_job(job=job, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(job.get_absolute_url())
    messages.success(request, f"Submitted again as {new}.")
    return redirect(new.get_absolute_url())


@login_required
def output_file(request, slug, job_id, output_id):
    """An output's file: a dry run's, or a real run's once released (jobs.downloads)."""
    _, job = _job_for(request, slug, job_id)
    return downloads.output_response(
        job=job,
        output_id=output_id,
        by=request.user,
        # ?inert=1: a table made safe for spreadsheets.
        inert=request.GET.get("inert") == "1",
        # The job page's <img> of a dry run's figure; anything else is an attachment.
        inline_image=request.GET.get("download") != "1",
    )
