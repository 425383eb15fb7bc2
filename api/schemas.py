"""The API's request and response bodies (docs/api.md; the contract the CLI is written to).

A response is validated against its schema before it is sent, and a schema drops any key
it does not declare: what a body may carry is written here once, and a field added to a
payload in `api.payloads` reaches nobody until it is declared below too.
"""

from datetime import datetime
from decimal import Decimal
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


# --- questions answered with differential privacy (api/routes/privacy.py) ---------------


class QuestionIn(Schema):
    """A question about one dataset version, as the portal's question form asks it."""

    statistic: str = Field(description="count, sum, mean, quantile or histogram.")
    column: str = Field("", description="The measured column; none for a count.")
    by: list[str] = Field(
        default_factory=list, description="Grouping columns, at most two (one for a histogram)."
    )
    epsilon: Decimal = Field(description="The ε to spend, such as 0.5.")
    quantile: float | None = Field(
        None, description="For a quantile: 0.5 (the median) if not given."
    )
    version: int | None = Field(None, description="The dataset's version (default: newest ready).")


class AccuracyOut(Schema):
    alpha: float
    half_width: float
    statement: str = Field(description="The accuracy in words, as the portal shows it.")
    mechanism: str


class AccuracyPreviewOut(Schema):
    accuracy: AccuracyOut
    epsilon: str = Field(description="The ε the question would spend.")
    left_for_you: str
    would_overspend: bool = Field(description="Asking it would be refused, nothing spent.")


class QuestionSummary(Schema):
    id: int
    question: str
    statistic: str
    job: int | None = Field(description="The real run whose script asked it, if one did.")
    asked_by: str
    mechanism: str
    epsilon: str
    delta: str
    status: str
    status_label: str
    asked_at: datetime


class PrivacyBudgetOut(Schema):
    dataset: str
    version: int
    epsilon: str = Field(description="The version's whole budget, as a decimal string.")
    delta: str
    spent: str
    left: str
    share: str | None = Field(description="Each researcher's share of ε, if the steward set one.")
    left_for_you: str
    rows_per_person: int
    columns: dict[str, dict[str, Any]] = Field(
        description="The columns questions may use, with their declared bounds or categories."
    )
    questions: list[QuestionSummary] = Field(description="Every spend, newest first.")


class AnswerOut(Schema):
    columns: list[str]
    rows: list[list[Any]] = Field(description="Group labels as text, then the noisy value.")


class QuestionOut(Schema):
    id: int
    dataset: str
    version: int
    question: str = Field(description='In words, e.g. "count by ward".')
    statistic: str
    column: str
    by: list[str]
    quantile: float | None
    epsilon: str
    delta: str
    mechanism: str
    status: str = Field(description="spent (being answered), answered or refunded.")
    status_label: str
    reason: str = Field(description="Why a question was not answered (its ε given back).")
    job: int | None
    asked_by: str
    asked_at: datetime
    answered_at: datetime | None
    accuracy: AccuracyOut | None
    epsilon_used: float | None = Field(description="What OpenDP's privacy map says it cost.")
    answer: AnswerOut | None = Field(description="Once answered.")
    released_by: Literal["differential privacy"] | None = Field(description="Once answered.")
