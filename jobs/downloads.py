"""A job's output as a downloaded file, the one way out for the portal's page and the API
alike: who may have it (a dry run's outputs to the workspace's viewers, a real run's only
once released, to researchers), audited, with the stored file's checksum."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from jobs import channels
from jobs.models import Job, JobOutput
from tre import audit, files
from tre.permissions import REQUEST_RELEASE, may


def output_response(*, job: Job, output_id: int, by, inert: bool = False, inline_image=False):
    """The file of `job`'s output `output_id` for `by`, who may see `job` (the caller has
    checked). Raises Http404 or PermissionDenied.

    `inert`: a table made safe for spreadsheets (its bytes differ from the stored file's,
    so it carries no checksum). `inline_image`: a dry run's figure shown in the page."""
    if job.is_real and not channels.is_shown_ended(job, timezone.now()):
        # The same answer whether the output is stored or not: output ids are sequential,
        # and "forbidden" against "missing" would tell when the run really ended.
        raise Http404
    output = get_object_or_404(JobOutput, pk=output_id, job=job)
    if output.file is None:
        raise Http404
    if job.is_real:
        if output.released_at is None or not may(by, REQUEST_RELEASE, job.workspace):
            raise PermissionDenied("Outputs of a real-data run leave only through the airlock.")
        action = "release.downloaded"
    else:
        action = "job_output.viewed"
    inert = inert and output.type == JobOutput.Type.TABLE
    audit.record(
        action=action,
        by=by,
        target=output,
        workspace=job.workspace,
        details={"job": job.pk, "output": output.name, "sha256": output.sha256, "inert": inert},
    )
    return files.stored_file_response(
        output.file,
        filename=output.filename,
        inline_image=inline_image and not job.is_real,
        inert_csv=inert,
        # Otherwise the file is unchanged from what the job wrote: anyone can verify that.
        checksum=None if inert else output.sha256,
    )
