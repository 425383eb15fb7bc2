"""Datasets: ingest, identifier decisions, synthetic samples, erasure.

Private values never leave these functions: what they record (schemas, findings,
decisions, audit details) holds names, kinds and counts only.
"""

import logging
import traceback
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from tre import audit, vault
from tre.permissions import MANAGE_DATASETS, authorize
from workspaces import deidentify, identifiers, tabular
from workspaces.models import (
    Classification,
    Dataset,
    DatasetVersion,
    EncryptedFile,
    SyntheticSample,
    Workspace,
)

logger = logging.getLogger(__name__)

PARQUET_OPTIONS = {"compression": "zstd"}


@dataclass(frozen=True)
class Upload:
    """A file to ingest: how to open its plaintext (again and again), and its size."""

    open_binary: tabular.Opener
    size_bytes: int


def _write_parquet(batches, kinds: dict[str, str], profiler: tabular.ColumnProfiler, purpose):
    """Write Arrow batches as one encrypted Parquet file, profiling them on the way."""
    schema = tabular.arrow_schema(kinds)

    def write(sink):
        with pq.ParquetWriter(sink, schema, **PARQUET_OPTIONS) as writer:
            for batch in batches:
                profiler.update(batch)
                writer.write_table(batch)

    return vault.write_encrypted(purpose, write)


def read_table(encrypted_file: EncryptedFile, kinds: dict[str, str], columns=None):
    """A stored Parquet file as a typed pandas DataFrame (of `columns`, or all)."""
    with vault.open_encrypted(encrypted_file) as reader:
        table = pq.read_table(reader, columns=columns)
    wanted = {column: kinds[column] for column in (columns or kinds)}
    return tabular.from_arrow(table, wanted)


def iter_batches(encrypted_file: EncryptedFile):
    with vault.open_encrypted(encrypted_file) as reader:
        parquet = pq.ParquetFile(reader)
        for batch in parquet.iter_batches(batch_size=tabular.CHUNK_ROWS):
            yield pa.Table.from_batches([batch])


def ingest_dataset(
    *,
    workspace: Workspace,
    upload: Upload,
    by,
    name: str = "",
    classification: str = Classification.CONFIDENTIAL,
    description: str = "",
    dataset: Dataset | None = None,
    encoding: str = "utf-8",
) -> DatasetVersion:
    """Validate an upload, scan it for identifiers and stage it, encrypted.

    With `dataset` the upload becomes its next version; otherwise a new dataset named
    `name`. The version then awaits the steward's decision per flagged column. Bad
    input raises ValidationError with a message naming the line or column, and leaves
    nothing behind.
    """
    authorize(by, MANAGE_DATASETS, workspace)
    if dataset is None:
        Dataset(workspace=workspace, name=name, classification=classification).full_clean(
            exclude=["created_by"], validate_unique=False, validate_constraints=False
        )
        if Dataset.objects.filter(workspace=workspace, name=name, erased_at=None).exists():
            raise ValidationError(
                {
                    "name": f'This workspace already has a dataset named "{name}". '
                    "Upload a new version of it instead."
                }
            )
    elif dataset.workspace_id != workspace.pk or dataset.is_erased:
        raise ValidationError("That dataset cannot take a new version.")
    if upload.size_bytes > settings.TRE_MAX_UPLOAD_BYTES:
        raise ValidationError(_too_large_message(upload.size_bytes))

    limits = tabular.TableLimits(
        max_columns=settings.TRE_MAX_COLUMNS,
        max_rows=settings.TRE_MAX_ROWS,
        max_expanded_bytes=settings.TRE_MAX_EXPANDED_BYTES,
    )
    try:
        source = tabular.inspect_table(upload.open_binary, encoding=encoding, limits=limits)
    except tabular.TabularError as error:
        raise ValidationError(str(error)) from None

    scanner = identifiers.ColumnScanner(source.columns, source.kinds)
    profiler = tabular.ColumnProfiler(source.kinds)

    def scanned_batches():
        for batch in source.batches():
            scanner.update(tabular.from_arrow(batch, source.kinds))
            yield batch

    staged = _write_parquet(scanned_batches(), source.kinds, profiler, "staged")
    try:
        with transaction.atomic():
            if dataset is None:
                dataset = Dataset.objects.create(
                    workspace=workspace,
                    name=name,
                    classification=classification,
                    description=description,
                    created_by=by,
                )
            else:
                dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
            number = (dataset.versions.aggregate(Max("number"))["number__max"] or 0) + 1
            version = DatasetVersion.objects.create(
                dataset=dataset,
                number=number,
                status=DatasetVersion.Status.AWAITING_DECISIONS,
                source_format=source.format,
                source_encoding=source.encoding,
                source_delimiter=source.delimiter,
                source_size_bytes=upload.size_bytes,
                row_count=profiler.rows,
                staged_file=staged,
                staged_schema=profiler.schema(),
                findings=[_finding_as_dict(finding) for finding in scanner.findings()],
                created_by=by,
            )
            audit.record(
                action="dataset.uploaded",
                by=by,
                target=version,
                workspace=workspace,
                details={
                    "dataset": dataset.name,
                    "version": number,
                    "format": source.format,
                    "rows": profiler.rows,
                    "columns": len(source.columns),
                    "bytes": upload.size_bytes,
                    "flagged_columns": [finding.column for finding in scanner.findings()],
                },
            )
    except IntegrityError:
        vault.shred(staged)
        raise ValidationError(f'This workspace already has a dataset named "{name}".') from None
    except BaseException:
        vault.shred(staged)
        raise
    return version


def _too_large_message(size: int) -> str:
    limit = settings.TRE_MAX_UPLOAD_BYTES
    return (
        f"The file is {size / 1024**2:,.1f} MB; the limit is {limit / 1024**2:,.0f} MB "
        "(TRE_MAX_UPLOAD_BYTES)."
    )


def _finding_as_dict(finding) -> dict:
    return {
        "column": finding.column,
        "kind": str(finding.kind),
        "evidence": finding.evidence,
        "match_share": round(finding.match_share, 3),
        "suggested_action": str(finding.suggested_action),
        "reason": finding.reason,
    }


def suggested_decisions(version: DatasetVersion) -> dict[str, dict]:
    """Per column, the action the scan suggests (keep where it found nothing)."""
    kinds = {column["name"]: column["kind"] for column in version.staged_schema}
    findings = {finding["column"]: finding for finding in version.findings}
    suggestions = {}
    for column, kind in kinds.items():
        finding = findings.get(column)
        action = finding["suggested_action"] if finding else identifiers.Action.KEEP
        options = identifiers.allowed_generalisations(
            kind, identifiers.IdentifierKind(finding["kind"]) if finding else None
        )
        generalise_to = options[0] if action == identifiers.Action.GENERALISE else None
        suggestions[column] = {"action": str(action), "generalise_to": generalise_to}
    return suggestions


def decide_columns(*, version: DatasetVersion, decisions: dict[str, dict], by) -> DatasetVersion:
    """Apply the steward's choice per column (keep, drop, pseudonymise, generalise).

    The result becomes the version researchers' jobs read; the staged upload is
    crypto-shredded; a synthetic sample is queued. `decisions` maps column names to
    {"action": ..., "generalise_to": ...}; columns not named are kept.
    """
    workspace = version.dataset.workspace
    authorize(by, MANAGE_DATASETS, workspace)
    if version.status != DatasetVersion.Status.AWAITING_DECISIONS:
        raise ValidationError("The columns of this version have already been decided.")
    kinds = {column["name"]: column["kind"] for column in version.staged_schema}
    unknown = sorted(set(decisions) - set(kinds))
    if unknown:
        raise ValidationError(f"Unknown column(s): {', '.join(unknown)}.")
    column_decisions = {}
    for column, decision in decisions.items():
        if decision["action"] not in {action.value for action in identifiers.Action}:
            raise ValidationError(
                f"Column {column!r}: choose keep, drop, pseudonymise or generalise."
            )
        column_decisions[column] = deidentify.ColumnDecision(
            column=column,
            action=identifiers.Action(decision["action"]),
            generalise_to=decision.get("generalise_to") or None,
        )
    findings = [_finding_from_dict(finding) for finding in version.findings]
    try:
        deidentify.validate_decisions(list(column_decisions.values()), kinds, findings)
    except ValueError as error:
        raise ValidationError(str(error)) from None

    output_kinds = {
        column: deidentify.output_kind(kind, column_decisions.get(column))
        for column, kind in kinds.items()
        if column not in column_decisions
        or column_decisions[column].action != identifiers.Action.DROP
    }
    needs_secret = any(
        decision.action == identifiers.Action.PSEUDONYMISE for decision in column_decisions.values()
    )
    secret = vault.pseudonym_secret(workspace) if needs_secret else b""
    profiler = tabular.ColumnProfiler(output_kinds)

    def decided_batches():
        for batch in iter_batches(version.staged_file):
            frame = tabular.from_arrow(batch, kinds)
            decided = deidentify.apply_decisions(frame, column_decisions, kinds, secret=secret)
            yield tabular.to_arrow(decided, output_kinds)

    data_file = _write_parquet(decided_batches(), output_kinds, profiler, "data")
    recorded = [
        {
            "column": column,
            "action": str(column_decisions[column].action)
            if column in column_decisions
            else "keep",
            "generalise_to": column_decisions[column].generalise_to
            if column in column_decisions
            else None,
        }
        for column in kinds
    ]
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
            if version.status != DatasetVersion.Status.AWAITING_DECISIONS:
                raise ValidationError("The columns of this version have already been decided.")
            staged = version.staged_file
            version.move_to(DatasetVersion.Status.READY)
            version.data_file = data_file
            version.schema = profiler.schema()
            version.decisions = recorded
            version.decided_at = timezone.now()
            version.decided_by = by
            version.save()
            sample = SyntheticSample.objects.create(
                version=version, requested_rows=settings.TRE_SYNTHETIC_ROWS
            )
            audit.record(
                action="dataset_version.decided",
                by=by,
                target=version,
                workspace=workspace,
                details={
                    "dataset": version.dataset.name,
                    "version": version.number,
                    "decisions": recorded,
                },
            )
            transaction.on_commit(partial(queue_synthesis, sample.pk))
    except BaseException:
        vault.shred(data_file)
        raise
    vault.shred(staged)
    version.refresh_from_db()
    return version


def _finding_from_dict(finding: dict):
    return identifiers.Finding(
        column=finding["column"],
        kind=identifiers.IdentifierKind(finding["kind"]),
        evidence=finding["evidence"],
        match_share=finding["match_share"],
        suggested_action=identifiers.Action(finding["suggested_action"]),
        reason=finding["reason"],
    )


def queue_synthesis(sample_id: int) -> None:
    """Send the build task. If the broker is down the sample stays queued, and a
    steward can queue it again from its page once the broker is back."""
    from kombu.exceptions import OperationalError

    from tre import celery_app

    try:
        # By name: the tasks module imports this one, not the other way round.
        celery_app.send_task(
            "workspaces.tasks.build_synthetic_sample_task",
            args=(sample_id,),
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.5},
        )
    except OperationalError:
        logger.warning("Could not queue synthetic sample %s: broker unavailable", sample_id)


def rebuild_synthetic_sample(*, sample: SyntheticSample, by) -> SyntheticSample:
    """Queue a version's synthetic sample again (after a failure, or to refresh it)."""
    authorize(by, MANAGE_DATASETS, sample.version.dataset.workspace)
    with transaction.atomic():
        sample = SyntheticSample.objects.select_for_update().get(pk=sample.pk)
        if sample.status in (SyntheticSample.Status.RUNNING, SyntheticSample.Status.ERASED):
            raise ValidationError(f"The sample is {sample.get_status_display().lower()}.")
        old_file = sample.file
        sample.status = SyntheticSample.Status.QUEUED
        sample.progress, sample.error, sample.file = 0.0, "", None
        sample.summary, sample.report = {}, {}
        sample.save()
        vault.shred(old_file)
        audit.record(
            action="synthetic_sample.rebuild_requested",
            by=by,
            target=sample,
            workspace=sample.version.dataset.workspace,
        )
        transaction.on_commit(partial(queue_synthesis, sample.pk))
    return sample


def build_synthetic_sample(*, sample: SyntheticSample) -> SyntheticSample:
    """Build (or rebuild) a version's synthetic sample; run by a Celery worker.

    Idempotent: a sample that is ready or erased is left alone, so a task delivered
    twice does no harm.
    """
    with transaction.atomic():
        sample = SyntheticSample.objects.select_for_update().get(pk=sample.pk)
        if sample.status in (SyntheticSample.Status.READY, SyntheticSample.Status.ERASED):
            return sample
        sample.status = SyntheticSample.Status.RUNNING
        sample.started_at = timezone.now()
        sample.progress = 0.0
        sample.error = ""
        sample.save()
    version = sample.version
    # Imported here: only workers build samples, and web processes need not load
    # scikit-learn and scipy.
    from workspaces import synthesis

    def progress(fraction: float) -> None:
        SyntheticSample.objects.filter(pk=sample.pk).update(progress=round(0.1 + 0.8 * fraction, 3))

    try:
        kinds = {column["name"]: column["kind"] for column in version.schema}
        real = read_table(version.data_file, kinds)
        SyntheticSample.objects.filter(pk=sample.pk).update(progress=0.1)
        opaque = frozenset(
            decision["column"]
            for decision in version.decisions
            if decision["action"] == identifiers.Action.PSEUDONYMISE
        )
        result = synthesis.synthesise(
            real,
            kinds,
            synthesis.SynthesisSettings(
                n_rows=sample.requested_rows,
                rare_category_threshold=settings.TRE_SYNTHETIC_RARE_THRESHOLD,
            ),
            opaque_columns=opaque,
            progress=progress,
        )
        del real
        synthetic_profiler = tabular.ColumnProfiler(kinds)
        table = tabular.to_arrow(result.sample, kinds)
        synthetic_file = _write_parquet([table], kinds, synthetic_profiler, "synthetic")
    except Exception as error:
        # The message names the kind of failure only: an exception's text could quote
        # data, so the log has its type and frames, never its message.
        logger.error(
            "Synthetic sample %s failed: %s\n%s",
            sample.pk, type(error).__name__, "".join(traceback.format_tb(error.__traceback__)),
        )  # fmt: skip
        with transaction.atomic():
            SyntheticSample.objects.filter(pk=sample.pk).update(
                status=SyntheticSample.Status.FAILED,
                error=f"Building the sample failed ({type(error).__name__}).",
                finished_at=timezone.now(),
            )
            failed = SyntheticSample.objects.select_related("version__dataset").get(pk=sample.pk)
            audit.record(
                action="synthetic_sample.failed",
                target=failed,
                workspace=failed.version.dataset.workspace,
                details={"error": type(error).__name__},
            )
        return failed

    with transaction.atomic():
        sample = SyntheticSample.objects.select_for_update().get(pk=sample.pk)
        if sample.status != SyntheticSample.Status.RUNNING:  # erased meanwhile
            vault.shred(synthetic_file)
            return sample
        sample.file = synthetic_file
        sample.status = SyntheticSample.Status.READY
        sample.progress = 1.0
        sample.row_count = table.num_rows
        sample.summary = summarise_synthetic(result.sample, kinds)
        sample.report = result.report
        sample.finished_at = timezone.now()
        sample.save()
        audit.record(
            action="synthetic_sample.built",
            target=sample,
            workspace=version.dataset.workspace,
            details={
                "dataset": version.dataset.name,
                "version": version.number,
                "rows": table.num_rows,
            },
        )
    return sample


def summarise_synthetic(frame, kinds: dict[str, str], bins: int = 12) -> dict:
    """Per-column summaries of the synthetic sample for the portal's small charts."""
    import numpy as np

    summary = {}
    for column, kind in kinds.items():
        values = frame[column]
        present = values.dropna()
        entry = {"kind": kind, "missing_share": round(float(values.isna().mean()), 4)}
        if kind in ("integer", "float") and len(present):
            numbers = present.astype("float64").to_numpy()
            counts, edges = np.histogram(numbers, bins=bins)
            entry.update(
                mean=round(float(numbers.mean()), 4),
                median=round(float(np.median(numbers)), 4),
                minimum=round(float(numbers.min()), 4),
                maximum=round(float(numbers.max()), 4),
                histogram={"counts": counts.tolist(), "edges": [round(e, 4) for e in edges]},
            )
        elif kind in ("date", "datetime") and len(present):
            entry.update(minimum=str(present.min().date()), maximum=str(present.max().date()))
            by_year = present.dt.year.value_counts().sort_index()
            entry["bars"] = [[str(year), int(count)] for year, count in by_year.items()]
        elif len(present):
            top = present.astype("string").value_counts().head(bins)
            entry["bars"] = [[str(value), int(count)] for value, count in top.items()]
            entry["distinct"] = int(present.nunique())
        summary[column] = entry
    return summary


def update_dataset(
    *, dataset: Dataset, classification: str, description: str, by, reason: str = ""
) -> Dataset:
    """Change a dataset's classification or description. A new classification needs a
    reason, kept in the audit trail; release requests already submitted keep the
    approvals they needed (jobs.airlock: they never fall)."""
    authorize(by, MANAGE_DATASETS, dataset.workspace)
    if classification not in Classification.values:
        raise ValidationError("Unknown classification.")
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        before = dataset.classification
        if before != classification and not reason.strip():
            raise ValidationError(
                {"reason": "Say why the classification changes: it goes in the audit trail."}
            )
        dataset.classification, dataset.description = classification, description
        dataset.save(update_fields=["classification", "description"])
        audit.record(
            action="dataset.changed",
            by=by,
            target=dataset,
            details={
                "classification": {"before": before, "after": classification},
                "reason": reason.strip()[:500],
            },
        )
    return dataset


def erase_version(*, version: DatasetVersion, by, reason: str = "") -> DatasetVersion:
    """Erase a version: its data keys first (crypto-shredding), then its files, then the
    synthetic sample. The row stays as a tombstone so job history still names it."""
    authorize(by, MANAGE_DATASETS, version.dataset.workspace)
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        if version.status == DatasetVersion.Status.ERASED:
            return version
        files = [version.staged_file, version.data_file]
        sample = SyntheticSample.objects.filter(version=version).first()
        if sample is not None:
            files.append(sample.file)
            sample.status = SyntheticSample.Status.ERASED
            sample.summary, sample.report = {}, {}
            sample.save()
        version.move_to(DatasetVersion.Status.ERASED)
        version.erased_at = timezone.now()
        version.erased_by = by
        version.save()
        for encrypted_file in files:
            vault.shred(encrypted_file)
        audit.record(
            action="dataset_version.erased",
            by=by,
            target=version,
            details={
                "dataset": version.dataset.name,
                "version": version.number,
                "reason": reason[:500],
            },
        )
    return version


def erase_dataset(*, dataset: Dataset, by, reason: str = "") -> Dataset:
    """Erase every version of a dataset, then mark the dataset itself erased."""
    authorize(by, MANAGE_DATASETS, dataset.workspace)
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        for version in dataset.versions.all():
            erase_version(version=version, by=by, reason=reason)
        dataset.erased_at = timezone.now()
        dataset.save(update_fields=["erased_at"])
        audit.record(
            action="dataset.erased",
            by=by,
            target=dataset,
            details={"dataset": dataset.name, "reason": reason[:500]},
        )
    return dataset
