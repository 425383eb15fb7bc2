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

    ENDED = {Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.TIMED_OUT}
    # Which status may follow which; anything else is a bug and raises.
    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.CANCELLED, Status.FAILED},
        Status.RUNNING: {Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.TIMED_OUT},
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
    status_reason = models.TextField(blank=True)
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
    # Dry runs: the whole log. Real runs: only what jobs.logfilter lets through; the full
    # log is an output, for the airlock.
    log = models.TextField(blank=True)
    log_truncated = models.BooleanField(default=False)

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
    name = models.CharField(max_length=100)
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "name"]
        constraints = [
            models.UniqueConstraint(fields=["job", "filename"], name="one_output_per_file")
        ]

    def __str__(self):
        return f"{self.name} of {self.job}"

    @property
    def workspace(self):
        return self.job.workspace
