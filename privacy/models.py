"""Privacy budgets and the questions that spend them.

A data steward gives a dataset version a budget (ε, and δ) and declares, per column, what
researchers may ask about it (bounds, categories: public, never read from the data). Each
question is one row of the ledger: its ε is taken from the budget before the mechanism
runs (privacy.services.ask_question, under the budget row's lock) and given back only if
no answer was produced. The ledger is the budget's one source of truth: what is spent is
the sum of its rows that are not given back, added up as Decimals, never as floats.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse


class PrivacyBudget(models.Model):
    """What may be spent on one dataset version, and the rules its questions obey."""

    version = models.OneToOneField(
        "workspaces.DatasetVersion", on_delete=models.PROTECT, related_name="privacy_budget"
    )
    epsilon = models.DecimalField(max_digits=12, decimal_places=6)
    # Every mechanism offered is pure ε-DP, so questions spend no δ; the field is there so
    # that a steward's approximate-DP budget is stated, and refused where it can't be met.
    delta = models.DecimalField(max_digits=12, decimal_places=12, default=Decimal(0))
    # A researcher's share of ε (None: any researcher may spend the whole budget).
    epsilon_per_researcher = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    # The privacy unit: a person appears in at most this many rows.
    rows_per_person = models.PositiveIntegerField(default=1)
    # {column: {"kind": "numeric"|"categorical", "lower", "upper", "bins", "categories"}}
    columns = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"Privacy budget of {self.version}"

    @property
    def workspace(self):
        return self.version.dataset.workspace


class PrivateQuestion(models.Model):
    """One question asked of the real data with differential privacy: a spend."""

    class Statistic(models.TextChoices):
        COUNT = "count", "Count"
        SUM = "sum", "Sum"
        MEAN = "mean", "Mean"
        QUANTILE = "quantile", "Quantile"
        HISTOGRAM = "histogram", "Histogram"

    class Status(models.TextChoices):
        SPENT = "spent", "Spent, being answered"
        ANSWERED = "answered", "Answered"
        REFUNDED = "refunded", "Not answered: nothing spent"

    TRANSITIONS = {
        Status.SPENT: {Status.ANSWERED, Status.REFUNDED},
        Status.ANSWERED: set(),
        Status.REFUNDED: set(),
    }

    budget = models.ForeignKey(PrivacyBudget, on_delete=models.PROTECT, related_name="questions")
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="private_questions"
    )
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="private_questions"
    )
    # A question a script asked (its dry run said which), answered beside its real run.
    job = models.ForeignKey(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="private_questions",
    )
    statistic = models.CharField(max_length=16, choices=Statistic.choices)
    column = models.CharField(max_length=200, blank=True)
    by = models.JSONField(default=list, blank=True)
    quantile = models.FloatField(null=True, blank=True)
    epsilon = models.DecimalField(max_digits=12, decimal_places=6)
    delta = models.DecimalField(max_digits=12, decimal_places=12, default=Decimal(0))
    mechanism = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SPENT)
    # What OpenDP's privacy map says the answer cost (at most `epsilon`).
    epsilon_used = models.FloatField(null=True, blank=True)
    accuracy = models.JSONField(default=dict, blank=True)
    answer = models.JSONField(default=dict, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)
    asked_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-asked_at", "-pk"]
        indexes = [models.Index(fields=["budget", "status"])]

    def __str__(self):
        return f"{self.describe()} (ε {self.epsilon.normalize():f})"

    def get_absolute_url(self):
        return reverse(
            "privacy:question", kwargs={"slug": self.workspace.slug, "question_id": self.pk}
        )

    def describe(self) -> str:
        """The question in words, e.g. "count by ward, sex" or "median of age"."""
        if self.statistic == self.Statistic.QUANTILE:
            what = f"{self.quantile:g} quantile of {self.column}"
        elif self.statistic == self.Statistic.COUNT:
            what = "count"
        else:
            what = f"{self.get_statistic_display().lower()} of {self.column}"
        return f"{what} by {', '.join(self.by)}" if self.by else what

    def check_transition(self, status) -> None:
        if status not in self.TRANSITIONS[self.status]:
            raise ValueError(f"A question cannot go from {self.status} to {status}.")
