"""The admin shows budgets and the ledger; it changes neither: a budget is set by a data
steward on the dataset's page (privacy.services.set_budget, audited), and a spend is only
ever made by asking a question."""

from django.contrib import admin

from privacy.models import PrivacyBudget, PrivateQuestion
from tre.admin import ReadOnlyAdmin


@admin.register(PrivacyBudget)
class PrivacyBudgetAdmin(ReadOnlyAdmin):
    list_display = ["version", "epsilon", "delta", "epsilon_per_researcher", "rows_per_person"]
    list_select_related = ["version__dataset"]


@admin.register(PrivateQuestion)
class PrivateQuestionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "budget", "asked_by", "statistic", "column", "epsilon", "status"]
    list_filter = ["status", "statistic"]
    list_select_related = ["budget__version__dataset", "asked_by"]
    exclude = ["answer"]
