from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from tre.permissions import Role, check_separated


def default_real_runs_per_day() -> int:
    return settings.TRE_REAL_RUNS_PER_DAY


class Workspace(models.Model):
    """A project space: its members, the datasets they may study and their jobs."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The workspace's pseudonymisation key, wrapped by the master key: HMAC tokens made
    # with it let pseudonymised columns join across this workspace's datasets.
    pseudonym_key = models.OneToOneField(
        "DataKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Overrides of the sandbox's limits for this workspace's jobs (names as in
    # jobs.sandbox.Limits; the rest from the TRE_JOB_LIMITS defaults).
    job_limits = models.JSONField(default=dict, blank=True)
    # How many real-data runs each researcher may submit in any 24 hours. Everything a
    # researcher sees of a real run is a small channel out of the data (docs/security.md);
    # this bounds what they can carry in total.
    real_runs_per_day = models.PositiveSmallIntegerField(
        default=default_real_runs_per_day,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Real-data runs each researcher may submit in any 24 hours.",
    )

    class Meta:
        ordering = ["name"]
        # view_workspace is one of Django's default permissions; guardian grants
        # these per workspace from the roles (tre.permissions.ACTIONS).
        permissions = [
            ("manage_members", "Manage the workspace's members and their roles"),
            ("manage_datasets", "Ingest, version, classify and erase the workspace's datasets"),
            ("view_datasets", "See datasets' schemas and browse their synthetic samples"),
            ("submit_jobs", "Submit, cancel and re-run jobs"),
            ("view_jobs", "See the workspace's jobs, their state and their dry-run outputs"),
            ("request_release", "Ask for outputs to be released, download released ones"),
            ("review_release", "Review release requests"),
            (
                "ask_private_questions",
                "Ask questions answered with differential privacy, spending the budget",
            ),
            # Site-level, not per workspace: given to users or groups in the admin.
            (
                "steward_data",
                "Data steward: grant the output-checker role, upload data, classify datasets",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("workspaces:detail", kwargs={"slug": self.slug})


def validate_roles(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("A membership needs at least one role.")
    unknown = sorted(set(value) - set(Role.values))
    if unknown:
        raise ValidationError(f"Unknown role(s): {', '.join(unknown)}.")
    if len(set(value)) != len(value):
        raise ValidationError("A role is listed twice.")
    check_separated(value)


class Membership(models.Model):
    """A user's roles in one workspace. Changes go through workspaces.services."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    roles = models.JSONField(validators=[validate_roles])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["workspace", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")
        ]

    def __str__(self):
        return f"{self.user} in {self.workspace}"

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def get_roles_display(self) -> str:
        return ", ".join(Role(role).label for role in Role.values if role in self.roles)


class Classification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


DATASET_NAME_HELP = (
    "How scripts load it: lower-case letters, digits and underscores, starting with a letter."
)


class Dataset(models.Model):
    """A private table a workspace may study, in one or more versions.

    Nobody sees its rows in the portal; researchers see its schema and synthetic sample.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="datasets")
    name = models.SlugField(
        max_length=64,
        allow_unicode=False,
        help_text=DATASET_NAME_HELP,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", "Use lower-case letters, digits and _.")],
    )
    description = models.TextField(blank=True)
    classification = models.CharField(
        max_length=16, choices=Classification.choices, default=Classification.CONFIDENTIAL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"],
                condition=models.Q(erased_at__isnull=True),
                name="one_live_dataset_name_per_workspace",
            )
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse(
            "workspaces:dataset", kwargs={"slug": self.workspace.slug, "dataset_id": self.pk}
        )

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def current_version(self):
        return self.versions.filter(status=DatasetVersion.Status.READY).order_by("-number").first()


class DataKey(models.Model):
    """A file's data key, stored only wrapped by the master key.

    Deleting this row is crypto-shredding: the file it opened can never be read again,
    whatever copies of the ciphertext remain in storage or backups.
    """

    purpose = models.CharField(max_length=32)
    wrapped_key = models.BinaryField()
    master_key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.purpose} key #{self.pk}"

    @property
    def context(self) -> bytes:
        return f"tre:{self.purpose}".encode()


class EncryptedFile(models.Model):
    """A file in dataset storage under an opaque name, encrypted with its own data key."""

    storage_name = models.CharField(max_length=200, unique=True)
    data_key = models.OneToOneField(DataKey, null=True, on_delete=models.SET_NULL)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the plaintext.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.storage_name


class DatasetVersion(models.Model):
    """One upload of a dataset. Jobs pin the version they ran against."""

    class Status(models.TextChoices):
        AWAITING_DECISIONS = "awaiting_decisions", "Awaiting identifier decisions"
        READY = "ready", "Ready"
        ERASED = "erased", "Erased"

    # Which status may follow which; anything else is a bug and raises.
    TRANSITIONS = {
        Status.AWAITING_DECISIONS: {Status.READY, Status.ERASED},
        Status.READY: {Status.ERASED},
        Status.ERASED: set(),
    }

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=24, choices=Status.choices)
    source_format = models.CharField(max_length=8)
    source_encoding = models.CharField(max_length=16, blank=True)
    source_delimiter = models.CharField(max_length=2, blank=True)
    source_size_bytes = models.PositiveBigIntegerField()
    row_count = models.PositiveBigIntegerField()
    # The upload as parsed, every column typed, kept only until the steward decides.
    staged_file = models.OneToOneField(
        EncryptedFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What researchers' jobs read: the staged data with the decisions applied.
    data_file = models.OneToOneField(
        EncryptedFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # [{name, kind, missing_share, distinct_count}], of the staged data and then of the
    # released one: shapes and counts only, never a value.
    staged_schema = models.JSONField(default=list)
    schema = models.JSONField(default=list)
    findings = models.JSONField(default=list)
    decisions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    erased_at = models.DateTimeField(null=True, blank=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="one_number_per_version")
        ]

    def __str__(self):
        return f"{self.dataset.name} v{self.number}"

    def get_absolute_url(self):
        return reverse(
            "workspaces:dataset_version",
            kwargs={
                "slug": self.dataset.workspace.slug,
                "dataset_id": self.dataset_id,
                "number": self.number,
            },
        )

    @property
    def workspace(self):
        return self.dataset.workspace

    def move_to(self, status: "DatasetVersion.Status") -> None:
        if status not in self.TRANSITIONS[self.status]:
            raise ValueError(f"A dataset version cannot go from {self.status} to {status}.")
        self.status = status


class SyntheticSample(models.Model):
    """The eyes-on synthetic stand-in for a dataset version, built by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Being built"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        ERASED = "erased", "Erased"

    version = models.OneToOneField(
        DatasetVersion, on_delete=models.CASCADE, related_name="synthetic_sample"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    requested_rows = models.PositiveIntegerField()
    file = models.OneToOneField(
        EncryptedFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    row_count = models.PositiveIntegerField(default=0)
    # Per-column summaries of the synthetic data (it is shown, so it may be summarised).
    summary = models.JSONField(default=dict)
    # Fidelity and privacy measures: aggregate distances only, no values.
    report = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"synthetic sample of {self.version}"

    @property
    def workspace(self):
        return self.version.dataset.workspace
