"""The synthetic sample as a downloaded file, the one way out for the portal's page and
the API alike: audited, spreadsheet-safe, with the checksum of exactly the bytes sent."""

import csv
import hashlib
import io

from tre import audit, files
from workspaces import selectors
from workspaces.models import SyntheticSample


def synthetic_sample_response(*, sample: SyntheticSample, by):
    """The ready sample `sample` as a CSV download for `by` (who may see it: the caller
    has checked), audited as `synthetic_sample.downloaded`."""
    version = sample.version
    dataset = version.dataset
    buffer = io.StringIO()
    selectors.synthetic_frame(sample).to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
    audit.record(
        action="synthetic_sample.downloaded",
        by=by,
        target=sample,
        workspace=dataset.workspace,
        details={"dataset": dataset.name, "version": version.number},
    )
    # Always spreadsheet-safe: synthetic values can look like formulas too.
    response = files.inert_csv_response(
        csv.reader(io.StringIO(buffer.getvalue())),
        filename=f"{dataset.name}-v{version.number}-synthetic.csv",
    )
    # The bytes are made here, so their checksum is of exactly what is sent.
    response["X-Checksum-SHA256"] = hashlib.sha256(response.content).hexdigest()
    return response
