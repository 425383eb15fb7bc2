from django.conf import settings
from django.db import models
from django.urls import reverse


class Job(models.Model):
    """One run of a researcher's script, against synthetic samples or the real data."""

    class Mode(models.TextChoices):
        DRY_RUN = "dry_run", "Dry run on the synthetic samples"
        REAL = "real", "Eyes-off run on the real data"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        TIMED_OUT = "timed_out", "Timed out"
        LIMIT_EXCEEDED = "limit_exceeded", "Over a limit"

    class Limit(models.TextChoices):
        """The sandbox limits a run can end over (jobs.sandbox.LIMIT_NAMES)."""

        WALL_SECONDS = "wall_seconds", "wall-clock time"
        CPU_SECONDS = "cpu_seconds", "CPU time"
        OUTPUT_BYTES = "output_bytes", "output size"
        OUTPUT_FILES = "output_files", "number of output files"
        FILE_BYTES = "file_bytes", "file size"

    ENDED = {
        Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.TIMED_OUT, Status.LIMIT_EXCEEDED
    }  # fmt: skip
    # Which status may follow which; anything else is a bug and raises.
    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.CANCELLED, Status.FAILED},
        Status.RUNNING: ENDED,
        **{status: set() for status in ENDED},
    }

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="jobs"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    title = models.CharField(max_length=200, blank=True)
    script = models.TextField()
    dataset_versions = models.ManyToManyField("workspaces.DatasetVersion", related_name="jobs")
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Written by the platform, never from what the script printed (jobs.channels).
    status_reason = models.TextField(blank=True)
    limit = models.CharField(max_length=16, choices=Limit.choices, blank=True)
    # Of a failed run's last traceback: a built-in exception's name or "an exception", and
    # the script's line, both checked against what they may be (jobs.channels).
    failure_type = models.CharField(max_length=64, blank=True)
    failure_line = models.PositiveIntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    wall_seconds = models.FloatField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    max_rss_bytes = models.BigIntegerField(null=True, blank=True)
    output_bytes = models.BigIntegerField(null=True, blank=True)
    # Dry runs: the whole log. Real runs: nothing; their log is an encrypted output, for
    # the airlock (a researcher may ask for its release like any output's).
    log = models.TextField(blank=True)
    log_truncated = models.BooleanField(default=False)
    # Dry runs: the questions the script asks with differential privacy (tre_sdk.dp), as
    # the worker validated them, each with its practice answer on the synthetic sample.
    # The real run of the same script asks exactly these (privacy.script_questions).
    private_questions_asked = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return f"job #{self.pk}"

    def get_absolute_url(self):
        return reverse("jobs:detail", kwargs={"slug": self.workspace.slug, "job_id": self.pk})

    @property
    def is_real(self) -> bool:
        return self.mode == self.Mode.REAL

    @property
    def has_ended(self) -> bool:
        return self.status in self.ENDED

    def check_transition(self, status) -> None:
        if status not in self.TRANSITIONS[self.status]:
            raise ValueError(f"A job cannot go from {self.status} to {status}.")


class JobOutput(models.Model):
    """A file a job saved (or its log). Real runs' outputs stay here until released."""

    class Type(models.TextChoices):
        TABLE = "table", "Table"
        METRIC = "metric", "Metric"
        FIGURE = "figure", "Figure"
        TEXT = "text", "Text"
        LOG = "log", "Log"
        FILE = "file", "Other file"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="outputs")
    # The name the script gave it (checkers see it), and the one a researcher sees: for a
    # real run, that name only if it is a string literal of the script, else "output N".
    name = models.CharField(max_length=100)
    label = models.CharField(max_length=100, blank=True)
    # Where it stands on the job's pages: never by a name the researcher cannot see.
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=16, choices=Type.choices)
    kind = models.CharField(max_length=32, blank=True, help_text="For tables: what it holds.")
    description = models.TextField(blank=True)
    filename = models.CharField(max_length=200)
    file = models.OneToOneField(
        "workspaces.EncryptedFile", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    # The automated disclosure checks' verdict (jobs.disclosure.Verdict.as_dict()), for
    # outputs of real-data runs: what the researcher and the checkers see beside it.
    verdict = models.JSONField(default=dict, blank=True)
    # Set on release: from then on the workspace's researchers may download it.
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "filename"], name="one_output_per_file")
        ]

    def __str__(self):
        return f"{self.shown_name} of {self.job}"

    @property
    def workspace(self):
        return self.job.workspace

    @property
    def shown_name(self) -> str:
        """The name anyone but an output checker sees."""
        return self.label or self.name


class ReleaseRequest(models.Model):
    """A researcher's request to take some outputs of a real-data run out of the airlock."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        PARTIALLY_REVIEWED = "partially_reviewed", "Partially reviewed"
        REVIEWED = "reviewed", "Reviewed"
        RETURNED = "returned", "Returned for changes"
        APPROVED = "approved", "Approved"
        RELEASED = "released", "Released"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    # Which status may follow which (the services say who may move it).
    TRANSITIONS = {
        Status.DRAFT: {Status.SUBMITTED, Status.WITHDRAWN},
        Status.SUBMITTED: {Status.PARTIALLY_REVIEWED, Status.REVIEWED, Status.WITHDRAWN},
        Status.PARTIALLY_REVIEWED: {Status.REVIEWED, Status.WITHDRAWN},
        Status.REVIEWED: {Status.APPROVED, Status.RETURNED, Status.REJECTED},
        Status.RETURNED: {Status.SUBMITTED, Status.WITHDRAWN},
        Status.APPROVED: {Status.RELEASED},
        Status.RELEASED: set(),
        Status.REJECTED: set(),
        Status.WITHDRAWN: set(),
    }
    EDITABLE = {Status.DRAFT, Status.RETURNED}
    IN_REVIEW = {Status.SUBMITTED, Status.PARTIALLY_REVIEWED}

    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="release_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="release_requests"
    )
    description = models.TextField()
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.DRAFT)
    # Each submission opens a review round; reviews of earlier rounds stay as history.
    round = models.PositiveIntegerField(default=0)
    approvals_required = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"release request #{self.pk}"

    def get_absolute_url(self):
        return reverse(
            "jobs:release_request", kwargs={"slug": self.workspace.slug, "request_id": self.pk}
        )

    @property
    def workspace(self):
        return self.job.workspace

    def move_to(self, status) -> None:
        if status not in self.TRANSITIONS[self.status]:
            raise ValueError(f"A release request cannot go from {self.status} to {status}.")
        self.status = status


class RequestedOutput(models.Model):
    """One output in a release request, with why it is needed."""

    request = models.ForeignKey(ReleaseRequest, on_delete=models.CASCADE, related_name="items")
    output = models.ForeignKey(JobOutput, on_delete=models.PROTECT, related_name="requests")
    what_it_is = models.CharField(max_length=300)
    why_needed = models.TextField()
    # Bumped when the researcher replaces the output: votes on older revisions no longer count.
    revision = models.PositiveIntegerField(default=1)
    added_at = models.DateTimeField(auto_now_add=True)
    # What comparing the output with the researcher's released outputs on the same data
    # found when the request was last submitted (jobs.disclosure reasons), for checkers.
    cross_checks = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["request", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "output"], name="one_item_per_output")
        ]

    def __str__(self):
        return f"{self.output.name} in {self.request}"


class SupportingFile(models.Model):
    """Context for the checkers (a codebook, a note): never released."""

    request = models.ForeignKey(
        ReleaseRequest, on_delete=models.CASCADE, related_name="supporting_files"
    )
    name = models.CharField(max_length=200)
    file = models.OneToOneField(
        "workspaces.EncryptedFile", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    size_bytes = models.BigIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Review(models.Model):
    """One checker's review of one round of a request; blind until they submit it."""

    request = models.ForeignKey(ReleaseRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    round = models.PositiveIntegerField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "round", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "reviewer", "round"], name="one_review_per_round"
            )
        ]

    def __str__(self):
        return f"review by {self.reviewer} of {self.request} (round {self.round})"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None


class Vote(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        CHANGES = "changes", "Request changes"
        REJECT = "reject", "Reject"

    class Visibility(models.TextChoices):
        CHECKERS = "checkers", "Checkers only"
        RESEARCHER = "researcher", "Also the researcher"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="votes")
    item = models.ForeignKey(RequestedOutput, on_delete=models.CASCADE, related_name="votes")
    revision = models.PositiveIntegerField()
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    comment_visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.CHECKERS
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "item"], name="one_vote_per_item")]

    def __str__(self):
        return f"{self.decision} on {self.item}"
