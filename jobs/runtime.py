"""The worker's side of a job: claim it, run it in the sandbox, check and store what it
wrote, and reap the jobs whose worker died. Called by `jobs.tasks`.

The database is the source of truth. A worker claims a job with one conditional UPDATE
(queued -> running), so a job runs at most once however often its task is delivered; a
running job writes a heartbeat, and the reaper fails any running job whose heartbeat
stopped (its worker died), rather than running it again.

Everything the sandbox hands back is data from the real data (see `jobs.sandbox`): what
is stored for the researcher to see goes through `jobs.channels`.
"""

import logging
import queue
import shutil
import socket
import threading
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path

import pyarrow.parquet as pq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import channels, disclosure, sandbox, workdirs
from jobs.manifest import Manifest, output_type, read_manifest
from jobs.models import Job, JobOutput
from privacy import script_questions
from tre import audit, celery_app, vault
from workspaces import tabular
from workspaces.models import SyntheticSample, Workspace
from workspaces.tiers import tier_policy

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "jobs.tasks.run_job_task"


def limits_for(workspace: Workspace | None) -> sandbox.Limits:
    """The sandbox limits for this workspace's jobs: defaults, then its own overrides
    (the defaults alone for None)."""
    known = {field.name for field in fields(sandbox.Limits)}
    values = {**settings.TRE_JOB_LIMITS, **(workspace.job_limits if workspace else {})}
    return sandbox.Limits(**{name: int(value) for name, value in values.items() if name in known})


def queue_job(job_id: int) -> None:
    """Send the job's task to its queue: dry runs and real runs never wait on each other."""
    from kombu.exceptions import OperationalError

    job = Job.objects.only("mode").get(pk=job_id)
    queue = settings.TRE_REAL_RUN_QUEUE if job.is_real else settings.TRE_DRY_RUN_QUEUE
    try:
        # By name: the tasks module imports this one, not the other way round.
        celery_app.send_task(
            RUN_JOB_TASK, args=(job_id,), queue=queue, retry=True,
            retry_policy={"max_retries": 3},
        )  # fmt: skip
    except OperationalError:
        # Still queued in the database: the reaper sends it again once the broker is back.
        logger.warning("Could not queue job %s: broker unavailable", job_id)


def claim(job_id: int) -> Job | None:
    """Move a queued job to running, unless another delivery got it first."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, worker=socket.gethostname()
    )
    return Job.objects.get(pk=job_id) if claimed else None


def _finish(job: Job, status: str, reason: str = "", **values) -> Job:
    with transaction.atomic():
        current = Job.objects.select_for_update().get(pk=job.pk)
        current.check_transition(status)
        for name, value in {"status": status, "status_reason": reason, **values}.items():
            setattr(current, name, value)
        current.finished_at = timezone.now()
        current.save()
        audit.record(
            action="job.ended",
            target=current,
            details={"status": status, "wall_seconds": values.get("wall_seconds")},
        )
    return current


def run_job(*, job_id: int) -> Job | None:
    """Run a queued job in the sandbox and store what it produced. Called by the task."""
    job = claim(job_id)
    if job is None:
        return None  # already running, ended or cancelled: at most once
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as error:
        return _finish(
            job, Job.Status.FAILED,
            f"This worker cannot create the sandbox ({error}), so it refuses to run scripts.",
        )  # fmt: skip
    limits = limits_for(job.workspace)
    warm = _take_warm(limits, busy=True)
    logger.info("Job %s starts %s.", job.pk, "warm" if warm else "cold")
    try:
        return _run_in_directory(job, warm)
    finally:
        _after_run(limits)


def _run_in_directory(job: Job, warm: "_Warm | None") -> Job:
    if warm is not None:
        warm.sandbox.moved_to(warm.directory.claim(job.pk))
    try:
        directory = warm.directory if warm else workdirs.RunDirectory(job.pk)
    except workdirs.NotInMemory as error:
        return _finish(
            job, Job.Status.FAILED,
            f"This worker would write the run's files to a disk ({error}), so it refuses "
            "to run scripts.",
        )  # fmt: skip
    try:
        with directory as workdir:
            return _run_in(job, workdir, warm.sandbox if warm else None)
    except Exception as error:
        # Its type and frames only: the message could quote what the script wrote.
        logger.error(
            "Job %s failed in the worker: %s\n%s",
            job.pk, type(error).__name__, "".join(traceback.format_tb(error.__traceback__)),
        )  # fmt: skip
        # Not the error's type: what broke the worker may depend on what the script wrote.
        return _finish(job, Job.Status.FAILED, "The platform failed to finish this run.")


@dataclass
class _Warm:
    directory: workdirs.RunDirectory
    sandbox: sandbox.WarmSandbox


# This worker process's sandbox started ahead of its next job (at most one), whether a
# run is going on in it, and the thread that starts the next sandbox once it is idle.
_warm: list[_Warm] = []
_warm_state = {"busy": False, "warmer": None}
_warm_requests: queue.Queue = queue.Queue()
_warm_lock = threading.Lock()
# How long a worker process waits, idle after a run, before it warms a sandbox: jobs in
# a burst follow each other without one (warming up costs a second or two of CPU, which
# a burst would pay for every job); a researcher's next dry run comes seconds later.
WARM_AFTER_IDLE_SECONDS = 0.5


def prepare_warm(limits: sandbox.Limits | None = None) -> None:
    """Start this process's warm sandbox for its next job, unless one waits already, a
    run is going on, or TRE_WARM_SANDBOX is off. With the limits of the job just run
    (the next is likely of the same workspace), else the defaults. Never raises: a
    worker without one runs its next job cold."""
    with _warm_lock:
        if not settings.TRE_WARM_SANDBOX or _warm or _warm_state["busy"]:
            return
        limits = limits or limits_for(None)
        directory = None
        try:
            directory = workdirs.RunDirectory(0)  # its job is not known yet
            started = sandbox.WarmSandbox(directory=directory.path, limits=limits)
            _warm.append(_Warm(directory, started))
        except Exception as error:
            logger.warning("No warm sandbox on this worker: %s", type(error).__name__)
            if directory is not None:
                directory.__exit__(None, None, None)


def _after_run(limits: sandbox.Limits) -> None:
    with _warm_lock:
        _warm_state["busy"] = False
        if not settings.TRE_WARM_SANDBOX:
            return
        if _warm_state["warmer"] is None:
            # One thread for the life of the process: bwrap's --die-with-parent follows
            # the thread that started it, so a sandbox started by a thread that ends
            # would end with it.
            warmer = threading.Thread(target=_warm_when_idle, daemon=True, name="tre-warmer")
            _warm_state["warmer"] = warmer
            warmer.start()
    _warm_requests.put(limits)


def _warm_when_idle() -> None:
    while True:
        limits = _warm_requests.get()
        time.sleep(WARM_AFTER_IDLE_SECONDS)
        while not _warm_requests.empty():  # runs ended meanwhile: the latest's limits
            limits = _warm_requests.get_nowait()
        prepare_warm(limits)


def _take_warm(limits: sandbox.Limits, *, busy: bool = False) -> _Warm | None:
    """This process's warm sandbox for a job with these limits, if it has a usable one
    (one with other limits, that died, or that is still warming up, is put away).
    `busy`: a run begins, so no sandbox is warmed until it ends."""
    with _warm_lock:
        if busy:
            _warm_state["busy"] = True
        if not _warm:
            return None
        warm = _warm[0]
        if warm.sandbox.limits == limits and warm.sandbox.is_alive():
            if not warm.sandbox.wait_ready(0):
                # Still importing: the run would wait for all of it (scikit-learn too),
                # where a cold start imports only what the script does. It stays for
                # the next job.
                return None
            return _warm.pop()
        _warm.pop()
    _put_away(warm)
    return None


def _put_away(warm: _Warm) -> None:
    """End an unused warm sandbox and remove its directory, in the background: the job
    that found it unusable does not wait for its reaping."""

    def end():
        warm.sandbox.close()
        warm.directory.__exit__(None, None, None)

    threading.Thread(target=end, daemon=True).start()


def close_warm() -> None:
    """End this process's warm sandbox, and any about to be started (a worker shutting
    down)."""
    with _warm_lock:
        _warm_state["busy"] = False
        taken = list(_warm)
        _warm.clear()
    for warm in taken:  # here and now: the worker is going
        warm.sandbox.close()
        warm.directory.__exit__(None, None, None)


def _open_inputs(job: Job, stack: ExitStack) -> tuple[dict, list]:
    """Each input decrypted into a memory file (never a named file: jobs.sandbox), and for
    a real run its table too, for the automated checks."""
    inputs, frames = {}, []
    for version in job.dataset_versions.select_related("dataset", "data_file"):
        if job.is_real:
            source = version.data_file
        else:
            source = SyntheticSample.objects.get(version=version).file
        plaintext = stack.enter_context(sandbox.memory_file("input"))
        with vault.open_encrypted(source) as reader:
            shutil.copyfileobj(reader, plaintext, 1 << 20)
        inputs[f"{version.dataset.name}.parquet"] = plaintext
        if job.is_real:
            plaintext.seek(0)
            kinds = {column["name"]: column["kind"] for column in version.schema}
            frames.append(tabular.from_arrow(pq.read_table(plaintext), kinds))
    return inputs, frames


def _run_in(job: Job, workdir: Path, warm: sandbox.WarmSandbox | None) -> Job:
    if warm is not None:
        output = warm.output
    else:
        output = workdir / "output"
        output.mkdir(mode=0o700)
    with ExitStack() as stack:
        inputs, frames = _open_inputs(job, stack)
        result = _sandboxed(job, inputs, output, warm)
    return _ended(job, result, output, frames)


def _sandboxed(
    job: Job, inputs: dict, output: Path, warm: sandbox.WarmSandbox | None
) -> sandbox.Result:
    last_check = [0.0]

    def should_stop() -> bool:
        # Once a second: write the heartbeat, and see whether someone cancelled.
        now = time.monotonic()
        if now - last_check[0] < 1:
            return False
        last_check[0] = now
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()

    if warm is not None:
        return warm.run(script=job.script, inputs=inputs, should_stop=should_stop)
    return sandbox.run(
        script=job.script, inputs=inputs, output=output, limits=limits_for(job.workspace),
        should_stop=should_stop,
    )  # fmt: skip


def _ended(job: Job, result: sandbox.Result, output: Path, frames: list) -> Job:
    full_log = _combined_log(result)
    checks = _disclosure_context(job, frames) if job.is_real else None
    del frames
    # Over an output limit, nothing the run wrote is kept (a real run's log still goes
    # to the airlock, where checkers can see what happened).
    keep_files = result.limit not in OUTPUT_LIMITS
    _store_outputs(job, output, keep_files, full_log if job.is_real else None, checks)

    status = {
        "finished": Job.Status.FINISHED,
        "failed": Job.Status.FAILED,
        "timed_out": Job.Status.TIMED_OUT,
        "limit_exceeded": Job.Status.LIMIT_EXCEEDED,
        "cancelled": Job.Status.CANCELLED,
    }[result.state]
    failure_type, failure_line = (
        channels.failure_summary(result.stderr, job.script)
        if result.state == "failed"
        else (None, None)
    )
    # A dry run's questions with differential privacy, and their practice answers: read
    # after a dry run only (never a real one's: privacy.script_questions).
    asked = script_questions.practise(job, output) if not job.is_real and keep_files else []
    return _finish(
        job,
        status,
        _status_reason(job, result),
        private_questions_asked=asked,
        limit=result.limit or "",
        failure_type=failure_type or "",
        failure_line=failure_line,
        exit_code=result.exit_code,
        wall_seconds=result.wall_seconds,
        cpu_seconds=result.cpu_seconds,
        max_rss_bytes=result.max_rss_bytes,
        output_bytes=result.output_bytes,
        # A real run's log is an output for the airlock, never shown on its page.
        log="" if job.is_real else full_log,
        log_truncated=result.log_truncated,
    )


OUTPUT_LIMITS = {"output_bytes", "output_files", "file_bytes"}


def _status_reason(job: Job, result: sandbox.Result) -> str:
    """The platform's own words on how the run ended. For a real run nothing the script
    chose appears (an exit code would carry a value): only which limit, if any."""
    reasons = [
        reason for reason in result.reasons
        if not (job.is_real and "log limit" in reason)  # checkers see the log's truncation
    ]  # fmt: skip
    if result.state == "failed" and not reasons:
        reasons.append(
            "the script failed"
            if job.is_real
            else f"the script exited with code {result.exit_code}"
        )
    return "; ".join(reasons)[:2000].capitalize()


def _combined_log(result: sandbox.Result) -> str:
    parts = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append(result.stderr.rstrip("\n"))
    return "\n".join(parts)


def _disclosure_context(job: Job, frames: list) -> dict:
    """What the airlock's automated checks need from a real run's inputs.

    The thresholds of the strictest classification tier among the job's datasets; the
    largest input's row count; and the text of every value of the columns that identify
    people (pseudonymised, or flagged by the identifier scan and kept), so an output
    holding one of them fails. Text columns only: short numbers would match counts.
    """
    policy = tier_policy(version.dataset.classification for version in job.dataset_versions.all())
    sensitive: set[str] = set()
    for version, frame in zip(job.dataset_versions.all(), frames, strict=True):
        identifying = {decision["column"] for decision in version.decisions
                       if decision["action"] == "pseudonymise"}  # fmt: skip
        identifying |= {finding["column"] for finding in version.findings}
        for column in identifying & set(frame.columns):
            values = frame[column].dropna()
            if values.dtype.kind not in "biufcmM":
                sensitive.update(str(value) for value in values.unique())
    thresholds = disclosure.Thresholds.from_dict(policy.thresholds)
    return {
        "thresholds": thresholds,
        "input_rows": max((len(frame) for frame in frames), default=0),
        "sensitive_values": frozenset(sensitive),
        # Rows of the inputs, to find a row's values together in what the run wrote.
        "row_values": disclosure.RowValues.from_frames(frames),
        # The inputs themselves, to recompute what each cell of a table is.
        "input_tables": disclosure.InputTables.from_frames(frames, nk_n=thresholds.nk_n),
    }


def _store_outputs(
    job: Job, output: Path, keep_files: bool, full_log: str | None, checks: dict | None
) -> None:
    """Check and store what a run wrote, encrypted (only its log when `keep_files` is
    false), in the order its page shows them (jobs.channels.label_outputs)."""
    # The SDK's manifest is a claim, read by its one validating parser (jobs.manifest).
    manifest = read_manifest(output) if keep_files else Manifest()
    paths = []
    if keep_files:
        paths = sorted(
            path for path in output.rglob("*")
            if path.is_file() and not path.is_symlink() and not path.name.startswith(".")
        )  # fmt: skip
    found = []
    for path in paths:
        relative = str(path.relative_to(output))
        entry = manifest.entry_for(relative)
        found.append(
            {
                "path": path,
                "filename": relative,
                "name": ((entry.name if entry else None) or path.stem)[:100],
                # From the suffix (and, for the checks, the content), never the claim.
                "type": output_type(relative),
                "entry": entry,
                "verdict": (
                    disclosure.check_output(path=path, entry=entry, **checks).as_dict()
                    if checks
                    else {}
                ),
            }
        )
    if checks:
        _check_differencing(found, checks["thresholds"])
    if job.is_real:
        found = channels.label_outputs(found, channels.script_literals(job.script))
    for item in found:
        entry = item["entry"]
        _store_output(
            job,
            filename=item["filename"],
            name=item["name"],
            label=item.get("label", item["name"]),
            position=item.get("position", 0),
            type=item["type"],
            kind=(entry.kind or "") if entry else "",
            description=entry.description if entry else "",
            metadata=_metadata(entry),
            verdict=item["verdict"],
            write=lambda sink, path=item["path"]: _copy(path, sink),
        )
    if full_log is not None:
        # Beside the output directory, where the sandbox cannot put anything in its way.
        log_path = output.parent / "full-log.txt"
        log_path.write_text(full_log)
        verdict = disclosure.check_output(
            path=log_path, entry=None, manifest_problems=manifest.problems, **checks
        )
        _store_output(
            job, filename=".log/full-log.txt", name="full_log", label="full_log",
            position=len(found) + 1, type=JobOutput.Type.LOG, kind="",
            description="The run's whole log, for review before release.", metadata={},
            verdict=verdict.as_dict(), write=lambda sink: sink.write(full_log.encode()),
        )  # fmt: skip


def _check_differencing(found: list[dict], thresholds) -> None:
    """Flag the run's count tables whose totals differ by a few people (their verdicts
    gain a "differencing" reason naming the other table, and fail)."""
    tables = []
    for item in found:
        if item["type"] != JobOutput.Type.TABLE:
            continue
        entry = item["entry"]
        declared = entry is not None and entry.type == "table"
        margins = disclosure.margins_of(
            _head(item["path"], disclosure.MAX_TABLE_BYTES + 1),
            header_rows=entry.header_rows if declared else None,
            index_columns=entry.index_columns if declared else None,
        )
        if margins is not None:
            tables.append((item["filename"], margins))
    flagged = disclosure.differencing(tables, fewer_than=thresholds.min_cell_count)
    for item in found:
        others = flagged.get(item["filename"])
        if others:
            reason = disclosure.differencing_reason(others, fewer_than=thresholds.min_cell_count)
            item["verdict"] = disclosure.with_reason(item["verdict"], reason)


def _head(path: Path, size: int) -> bytes:
    with path.open("rb") as file:
        return file.read(size)


def _metadata(entry) -> dict:
    """What the checkers' pages show of a table's shape, as the manifest claims it."""
    if entry is None:
        return {}
    metadata = {"rows": entry.rows, "columns": entry.columns}
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in metadata.items() if value is not None}  # fmt: skip


def _copy(path: Path, sink) -> None:
    with path.open("rb") as source:
        shutil.copyfileobj(source, sink, 1 << 20)


def _store_output(
    job, *, filename, name, label, position, type, kind, description, metadata, verdict, write
):
    if type not in JobOutput.Type.values:
        type = JobOutput.Type.FILE
    encrypted = vault.write_encrypted("output", write)
    JobOutput.objects.create(
        job=job, name=name, label=label, position=position, type=type, kind=kind,
        description=description, filename=filename,
        file=encrypted, size_bytes=encrypted.size_bytes, sha256=encrypted.sha256,
        metadata=metadata, verdict=verdict,
    )  # fmt: skip


LOST_REAL = (
    "The worker running this job stopped. It was not run again: a run on the real data "
    "runs at most once, so that nothing comes out of it twice. Re-run it if you need its "
    "outputs."
)
LOST_DRY = (
    "The worker running this dry run stopped. A dry run reads only the synthetic sample: "
    "re-running it is safe."
)


def reap_stale_jobs(*, stale_after: int | None = None) -> int:
    """Fail running jobs whose worker stopped writing heartbeats; re-send queued ones
    whose task may have been lost. Returns how many jobs it failed."""
    stale_after = stale_after or settings.TRE_JOB_HEARTBEAT_TIMEOUT
    cutoff = timezone.now() - timezone.timedelta(seconds=stale_after)
    failed = 0
    for job in Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff):
        with transaction.atomic():
            current = Job.objects.select_for_update().get(pk=job.pk)
            if current.status != Job.Status.RUNNING or current.heartbeat_at >= cutoff:
                continue
            _finish(current, Job.Status.FAILED, LOST_REAL if current.is_real else LOST_DRY)
            failed += 1
    # Claiming is idempotent, so sending an old queued job again is safe; it covers a
    # broker that lost its queue (restarted without persistence, say).
    for job_id in Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        queue_job(job_id)
    return failed
