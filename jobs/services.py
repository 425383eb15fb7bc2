"""Jobs: what researchers do to them (submit, cancel, re-run). Each is one function:
permission first, one transaction, its audit entry inside it. The worker's side of a job
(claim, run, store, reap) is `jobs.runtime`.
"""

import logging
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from jobs import channels, runtime
from jobs.models import Job
from privacy import script_questions
from tre import audit
from tre.permissions import CANCEL_JOB, SUBMIT_JOBS, authorize
from workspaces.models import DatasetVersion, SyntheticSample, Workspace

logger = logging.getLogger(__name__)


def script_too_large_message(size: int | None) -> str:
    """What the editor says of a script of `size` bytes (None: unknown, but too many),
    over TRE_MAX_SCRIPT_BYTES."""
    limit = settings.TRE_MAX_SCRIPT_BYTES
    what = f"The script is {size:,} bytes" if size else "The script is too large"
    return (
        f"{what}; a script may be at most {limit:,} bytes "
        f"({_in_units(limit)}, TRE_MAX_SCRIPT_BYTES)."
    )


def _in_units(size: int) -> str:
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:,.3g} {unit}"
    return f"{size} bytes"


def check_script(script: str) -> None:
    """Refuse a script that cannot run, saying why in the editor's terms (the line, not
    a traceback): empty, over TRE_MAX_SCRIPT_BYTES, holding a NUL byte, or not Python."""
    if not script.strip():
        raise ValidationError({"script": "The script is empty."})
    size = len(script.encode())
    if size > settings.TRE_MAX_SCRIPT_BYTES:
        raise ValidationError({"script": script_too_large_message(size)})
    if "\0" in script:
        # compile() refuses it without saying where (its line number is None).
        line = script.count("\n", 0, script.index("\0")) + 1
        raise ValidationError(
            {"script": f"The script contains a NUL byte (at line {line}); Python can't run it."}
        )
    try:
        compile(script, "script.py", "exec")
    except SyntaxError as error:
        where = f"Line {error.lineno}: " if error.lineno else ""
        raise ValidationError(
            {"script": f"{where}{error.msg}. Fix the syntax and submit again."}
        ) from None
    except (MemoryError, RecursionError):
        # The parser's own stack overflows on thousands of nested operators.
        raise ValidationError(
            {"script": "The script is nested too deeply for Python to compile it."}
        ) from None


def submit_job(
    *,
    workspace: Workspace,
    script: str,
    dataset_versions,
    mode: str,
    by,
    title: str = "",
    rerun_of: Job | None = None,
) -> Job:
    """Queue a script to run against these dataset versions (synthetic or real)."""
    authorize(by, SUBMIT_JOBS, workspace)
    if mode not in Job.Mode.values:
        raise ValidationError("Choose a dry run or a real run.")
    check_script(script)
    versions = list(dataset_versions)
    if not versions:
        raise ValidationError({"dataset_versions": "Choose at least one dataset."})
    names = [version.dataset.name for version in versions]
    if len(set(names)) != len(names):
        raise ValidationError({"dataset_versions": "Choose one version of each dataset."})
    for version in versions:
        if version.dataset.workspace_id != workspace.pk or version.dataset.is_erased:
            raise PermissionDenied("That dataset is not in this workspace.")
        if version.status != DatasetVersion.Status.READY:
            raise ValidationError({"dataset_versions": f"{version} is not ready."})
        if (
            mode == Job.Mode.DRY_RUN
            and not SyntheticSample.objects.filter(
                version=version, status=SyntheticSample.Status.READY
            ).exists()
        ):
            raise ValidationError(
                {"dataset_versions": f"{version} has no synthetic sample ready for a dry run."}
            )
    if mode == Job.Mode.REAL:
        _check_real_run_quota(workspace, by, lock=False)
    with transaction.atomic():
        if mode == Job.Mode.REAL:
            _check_real_run_quota(workspace, by, lock=True)
        job = Job.objects.create(
            workspace=workspace, submitted_by=by, mode=mode, script=script, title=title[:200],
            rerun_of=rerun_of,
        )  # fmt: skip
        job.dataset_versions.set(versions)
        audit.record(
            action="job.submitted",
            by=by,
            target=job,
            workspace=workspace,
            details={
                "mode": mode,
                "datasets": [str(version) for version in versions],
                "rerun_of": rerun_of.pk if rerun_of else None,
            },
        )
        if mode == Job.Mode.REAL:
            # Its questions with differential privacy are its dry run's, spent now or
            # the run is refused (privacy.script_questions says why).
            script_questions.ask_for_real_run(job=job, by=by)
        transaction.on_commit(partial(runtime.queue_job, job.pk))
    return job


def real_runs_used(*, workspace: Workspace, user, now=None) -> tuple[int, object | None]:
    """How many real runs `user` submitted here in the last 24 hours, and when the
    oldest of them stops counting (None when there are none)."""
    since = (now or timezone.now()) - timezone.timedelta(hours=24)
    times = list(
        Job.objects.filter(
            workspace=workspace, submitted_by=user, mode=Job.Mode.REAL, created_at__gte=since
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    return len(times), (times[0] + timezone.timedelta(hours=24) if times else None)


def _check_real_run_quota(workspace: Workspace, by, *, lock: bool) -> None:
    """Refuse a real run over the researcher's daily quota. Checked first without a lock
    (a refusal is audited in its own transaction), then again inside the submission's
    with the workspace's row locked, so two submissions at once cannot both take the
    last run."""
    if lock:
        workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    used, frees_at = real_runs_used(workspace=workspace, user=by)
    if used < workspace.real_runs_per_day:
        return
    if not lock:
        audit.record(
            action="job.quota_refused",
            by=by,
            target=workspace,
            workspace=workspace,
            details={"used": used, "quota": workspace.real_runs_per_day},
        )
    raise ValidationError(
        f"You have used all {workspace.real_runs_per_day} of your real-data runs of the last "
        f"24 hours in this workspace; the next is free at "
        f"{timezone.localtime(frees_at):%Y-%m-%d %H:%M %Z}. Dry runs are not limited."
    )


def cancel_job(*, job: Job, by) -> Job:
    """Stop a job: its submitter's to cancel; an owner may stop anyone's (an operational
    stop, audited as such)."""
    authorize(by, CANCEL_JOB, job)
    action = "job.cancel_requested" if job.submitted_by_id == by.pk else "job.stopped_by_owner"
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if channels.is_shown_ended(job, timezone.now()):
            raise ValidationError(f"The job has already {job.get_status_display().lower()}.")
        if job.has_ended:
            # A real run that ended but is not shown as ended yet: answered as if it were
            # still running, or the answer would tell when it ended (jobs.channels).
            audit.record(action=action, by=by, target=job)
            return job
        if job.status == Job.Status.QUEUED:
            job.check_transition(Job.Status.CANCELLED)
            job.status = Job.Status.CANCELLED
            # A real run's reason is the same as a running one's: whether it had started
            # would tell when the run before it in the queue ended.
            job.status_reason = (
                "Cancelled"
                if job.is_real
                else f"Cancelled by {by.get_username()} before it started."
            )
            job.finished_at = timezone.now()
        job.cancel_requested = True  # a running job is stopped by its worker
        job.save()
        audit.record(action=action, by=by, target=job)
    return job


def rerun_job(*, job: Job, by) -> Job:
    """Submit the same script against the same dataset versions again (one's own job)."""
    authorize(by, SUBMIT_JOBS, job)
    return submit_job(
        workspace=job.workspace,
        script=job.script,
        dataset_versions=job.dataset_versions.all(),
        mode=job.mode,
        by=by,
        title=job.title,
        rerun_of=job,
    )


def queue_position(job: Job) -> int | None:
    """How many jobs of the same queue were submitted before this one and still wait."""
    if job.status != Job.Status.QUEUED:
        return None
    return Job.objects.filter(
        status=Job.Status.QUEUED, mode=job.mode, created_at__lt=job.created_at
    ).count()
