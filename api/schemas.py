"""The API's request and response bodies (docs/api.md; the contract the CLI is written to).

A response is validated against its schema before it is sent, and a schema drops any key
it does not declare: what a body may carry is written here once, and a field added to a
payload in `api.payloads` reaches nobody until it is declared below too.
"""

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class Error(Schema):
    detail: str = Field(description="One sentence for a person.")


class TokenInfo(Schema):
    name: str
    scope: Literal["read", "submit"]
    expires_at: datetime


class Me(Schema):
    username: str
    token: TokenInfo


class WorkspaceOut(Schema):
    slug: str
    name: str
    roles: list[str]


class Column(Schema):
    name: str
    kind: str


class VersionOut(Schema):
    number: int
    status: str
    row_count: int
    columns: list[Column]
    sample_ready: bool


class DatasetOut(Schema):
    name: str
    description: str
    versions: list[VersionOut]


class OutputOut(Schema):
    id: int
    name: str = Field(
        description="For a real run, its own name only if the script has it as a string "
        'literal, else "output N" (as on the job page).'
    )
    type: str
    kind: str | None = Field(description="Dry runs only (a real run's comes from its script).")
    size_bytes: int | None = Field(description="Dry runs only.")
    sha256: str | None = Field(description="A dry run's; a real run's once released.")
    download: str | None = Field(description="A dry run's; a real run's once released.")
    verdict: dict[str, Any] | None = Field(
        description="Real runs only: the automated checks' status and the names of their "
        "rules, as the job page shows a researcher."
    )
    released: bool | None = Field(description="Real runs only.")


class JobSummary(Schema):
    id: int
    title: str
    mode: Literal["dry_run", "real"]
    state: str
    state_label: str
    has_ended: bool
    submitted_by: str
    submitted_at: datetime
    runtime: str | None


class JobOut(Schema):
    id: int
    title: str
    mode: Literal["dry_run", "real"]
    state: str
    state_label: str
    has_ended: bool
    reason: str
    failure_type: str
    failure_line: int | None
    submitted_at: datetime
    started_at: datetime | None
    runtime: str | None
    fingerprint: str = Field(description="Pass it to /wait as ?shown= to wait for a change.")
    datasets: list[str]
    log: str | None = Field(description="A dry run's, once it has ended; never a real run's.")
    outputs: list[OutputOut]


class JobIn(Schema):
    script: str
    datasets: list[str] = Field(
        description='Dataset names, each as "name" (its newest ready version) or "name@N".'
    )
    mode: Literal["dry_run", "real"]
    title: str = ""


class ReleaseIn(Schema):
    outputs: list[int | str] = Field(
        description="The outputs to release, by id or by the name the job shows."
    )
    justification: str


class ReleaseItemOut(Schema):
    output: str
    state: str


class ReleaseOut(Schema):
    id: int
    job: int
    status: str
    status_label: str
    items: list[ReleaseItemOut]
