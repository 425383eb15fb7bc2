from django import forms

from privacy.models import PrivateQuestion


class QuestionForm(forms.Form):
    """A question about one dataset version: what, of which column, by which groups, ε."""

    statistic = forms.ChoiceField(choices=PrivateQuestion.Statistic.choices)
    column = forms.ChoiceField(required=False, label="Of the column")
    by_first = forms.ChoiceField(required=False, label="By")
    by_second = forms.ChoiceField(required=False, label="And by")
    quantile = forms.FloatField(
        required=False, min_value=0.01, max_value=0.99, initial=0.5,
        help_text="For a quantile: 0.5 is the median.",
    )  # fmt: skip
    epsilon = forms.DecimalField(
        min_value=0.000001, max_value=10, decimal_places=6, initial=0.5, label="ε",
        help_text="More ε: a more accurate answer, and more of the budget spent.",
    )  # fmt: skip

    def __init__(self, *args, columns: dict, **kwargs):
        super().__init__(*args, **kwargs)
        every = [(name, name) for name in columns]
        self.fields["column"].choices = [("", "(none: a count)"), *every]
        self.fields["by_first"].choices = [("", "(no groups)"), *every]
        self.fields["by_second"].choices = [("", "(no second group)"), *every]

    def question_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "statistic": data["statistic"],
            "epsilon": data["epsilon"],
            "column": data.get("column") or "",
            "by": [name for name in (data.get("by_first"), data.get("by_second")) if name],
            "quantile": data.get("quantile"),
        }


class BudgetForm(forms.Form):
    """The budget's figures; the columns come from the per-column fields (see the view)."""

    epsilon = forms.DecimalField(
        min_value=0.000001, max_value=100, decimal_places=6, label="Budget ε",
        help_text="The privacy loss all answers on this version may add up to.",
    )  # fmt: skip
    delta = forms.DecimalField(
        min_value=0, max_value=0.5, decimal_places=12, initial=0, required=False, label="δ",
        help_text="Every mechanism offered is pure ε-DP and spends no δ.",
    )  # fmt: skip
    epsilon_per_researcher = forms.DecimalField(
        min_value=0.000001, max_value=100, decimal_places=6, required=False,
        label="Each researcher's share of ε", help_text="Empty: no share, the whole budget.",
    )  # fmt: skip
    rows_per_person = forms.IntegerField(
        min_value=1, max_value=1000, initial=1, label="Rows per person, at most",
        help_text="The privacy unit: one person's rows are what each answer hides.",
    )  # fmt: skip


def columns_from_post(post, schema: list[dict]) -> dict:
    """The per-column declarations a steward's form sent: `kind-<i>`, `lower-<i>`..."""
    columns = {}
    for index, column in enumerate(schema):
        kind = post.get(f"kind-{index}", "")
        if kind == "numeric":
            columns[column["name"]] = {
                "kind": kind,
                "lower": post.get(f"lower-{index}"),
                "upper": post.get(f"upper-{index}"),
                "bins": post.get(f"bins-{index}") or 10,
            }
        elif kind == "categorical":
            text = post.get(f"categories-{index}", "")
            columns[column["name"]] = {
                "kind": kind,
                "categories": [value.strip() for value in text.split(",")],
            }
    return columns
