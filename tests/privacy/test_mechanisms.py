"""The differential-privacy core: refusals, stated accuracy against the noise actually
drawn, clamping, the released cells, and the privacy unit.

The statistical tests draw real OpenDP noise (unseeded, as in production) and allow four
standard errors, so a false failure is a few-in-100,000 event.
"""

import dataclasses
import math

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest

from privacy import mechanisms
from privacy.mechanisms import ColumnRules, Question, QuestionError

RULES = {
    "ward": ColumnRules("ward", "categorical", categories=("renal", "oncology")),
    "sex": ColumnRules("sex", "categorical", categories=("F", "M")),
    "age": ColumnRules("age", "numeric", lower=0, upper=100, bins=10),
    "score": ColumnRules("score", "numeric", lower=0, upper=10),
    "stage": ColumnRules("stage", "categorical", categories=("1", "2", "3")),
    "smoker": ColumnRules("smoker", "categorical", categories=("True", "False")),
}


def typed_frame(**columns) -> pd.DataFrame:
    """Columns typed as workspaces.tabular.from_arrow types them."""
    dtypes = {
        "ward": "string",
        "sex": "string",
        "age": "Int64",
        "score": "float64",
        "stage": "Int64",
        "smoker": "boolean",
    }
    return pd.DataFrame(
        {name: pd.Series(values, dtype=dtypes[name]) for name, values in columns.items()}
    )


def answer_of(question, frame, rules=RULES, **kwargs) -> dict:
    """The answer as {labels: value}."""
    answered = mechanisms.answer(question, frame, rules, **kwargs)
    return {tuple(row[:-1]): row[-1] for row in answered.rows}


def beyond(errors, half_width) -> float:
    return float(np.mean(np.abs(np.asarray(errors, dtype=float)) > half_width))


def four_standard_errors(share: float, samples: int) -> float:
    return 4 * math.sqrt(share * (1 - share) / samples)


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "says"),
    [
        (Question("median", 1.0, column="age"), "Unknown statistic"),
        (Question("count", 0.0), "ε must be more than 0"),
        (Question("count", -1.0), "ε must be more than 0"),
        (Question("count", 10.5), "at most 10"),
        (Question("count", float("nan")), "ε must be more than 0"),
        (Question("count", True), "ε must be a number"),
        (Question("count", 1.0, column="age"), "A count takes no column"),
        (Question("sum", 1.0), "A sum needs a column"),
        (Question("histogram", 1.0), "A histogram needs a column"),
        (Question("count", 1.0, by=("ward", "sex", "age")), "at most 2 columns"),
        (Question("histogram", 1.0, column="age", by=("ward", "sex")), "at most 1 column"),
        (Question("count", 1.0, by=("postcode",)), "'postcode' has no public rules"),
        (Question("sum", 1.0, column="postcode"), "'postcode' has no public rules"),
        (Question("sum", 1.0, column="ward"), "'ward' is declared categorical"),
        (Question("mean", 1.0, column="ward"), "'ward' is declared categorical"),
        (Question("quantile", 1.0, column="ward"), "'ward' is declared categorical"),
        (Question("quantile", 1.0, column="age", quantile=0.0), "strictly between 0 and 1"),
        (Question("quantile", 1.0, column="age", quantile=1.0), "strictly between 0 and 1"),
        (Question("count", 1.0, by=("ward", "ward")), "'ward' appears more than once"),
        (Question("histogram", 1.0, column="age", by=("age",)), "'age' appears more than once"),
    ],
)
def test_questions_that_cannot_be_asked_are_refused_with_a_reason(question, says):
    with pytest.raises(QuestionError, match=says):
        mechanisms.validate(question, RULES)
    # accuracy and answer validate first: nothing is computed for a refused question
    with pytest.raises(QuestionError, match=says):
        mechanisms.accuracy(question, RULES)
    with pytest.raises(QuestionError, match=says):
        mechanisms.answer(question, typed_frame(ward=["renal"]), RULES)


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (ColumnRules("x", "numeric"), "no declared bounds"),
        (ColumnRules("x", "numeric", lower=5, upper=5), "unusable bounds"),
        (ColumnRules("x", "numeric", lower=0, upper=math.inf), "unusable bounds"),
        (ColumnRules("x", "numeric", lower=0, upper=1, bins=0), "at least one bin"),
        (ColumnRules("x", "categorical"), "no declared categories"),
        (ColumnRules("x", "categorical", categories=("a", "a")), "declares a category twice"),
        (ColumnRules("x", "categorical", categories=("a", "(other)")), "'\\(other\\)'"),
        (ColumnRules("x", "text", categories=("a",)), "numeric or categorical"),
    ],
)
def test_columns_with_unusable_rules_are_refused(rule, says):
    with pytest.raises(QuestionError, match=says):
        mechanisms.validate(Question("count", 1.0, by=("x",)), {"x": rule})


def test_a_question_with_too_many_cells_is_refused():
    wide = ColumnRules("code", "categorical", categories=tuple(str(n) for n in range(200)))
    rules = {"code": wide, "other_code": dataclasses.replace(wide, name="other_code")}
    with pytest.raises(QuestionError, match="40,401 cells"):
        mechanisms.validate(Question("count", 1.0, by=("code", "other_code")), rules)


def test_refusals_on_the_data_name_the_column_never_a_value():
    secret = "Flat 3, 14 Acacia Avenue"
    frame = pd.DataFrame({"age": pd.Series([secret, "x"], dtype="string")})
    with pytest.raises(QuestionError, match="'age' is declared numeric") as refused:
        mechanisms.answer(Question("sum", 1.0, column="age"), frame, RULES)
    assert secret not in str(refused.value)
    with pytest.raises(QuestionError, match="'ward' is not in this dataset"):
        mechanisms.answer(Question("count", 1.0, by=("ward",)), frame, RULES)


def test_rows_per_person_must_be_a_positive_whole_number():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="rows_per_person"):
            mechanisms.accuracy(Question("count", 1.0), RULES, rows_per_person=bad)


# --- Accuracy before spending -------------------------------------------------------------------


def test_accuracy_needs_no_data_and_is_opendps_for_the_scale_chosen():
    # A count's sensitivity is 1 row, so ε = 0.5 calls for a discrete Laplace scale of 2.
    counted = mechanisms.accuracy(Question("count", 0.5, by=("ward",)), RULES)
    assert counted.half_width == pytest.approx(dp.discrete_laplacian_scale_to_accuracy(2.0, 0.05))
    assert counted.alpha == 0.05
    assert "make_count_by_categories" in counted.mechanism
    assert f"±{math.floor(counted.half_width)} " in counted.statement
    assert "95 times in 100" in counted.statement

    # A sum clamped to [0, 10] moves by at most 10 per row (OpenDP adds a hair for float
    # rounding), so ε = 0.5 calls for a Laplace scale of about 20.
    summed = mechanisms.accuracy(Question("sum", 0.5, column="score"), RULES)
    assert summed.half_width == pytest.approx(dp.laplacian_scale_to_accuracy(20.0, 0.05), rel=1e-4)
    grouped = mechanisms.accuracy(Question("sum", 0.5, column="score", by=("ward",)), RULES)
    assert grouped.half_width == pytest.approx(summed.half_width, rel=1e-3)


def test_the_accuracy_promised_is_the_accuracy_answered():
    frame = typed_frame(ward=["renal"] * 5, score=[1.0] * 5)
    for question in (
        Question("count", 1.0, by=("ward",)),
        Question("sum", 1.0, column="score", by=("ward",)),
        Question("mean", 1.0, column="score"),
        Question("quantile", 1.0, column="score"),
    ):
        promised = mechanisms.accuracy(question, RULES)
        assert mechanisms.answer(question, frame, RULES).accuracy == promised


@pytest.mark.parametrize(
    "question",
    [
        Question("count", 1.0),
        Question("count", 1.0, by=("ward", "age")),
        Question("histogram", 1.0, column="age"),
        Question("sum", 1.0, column="score"),
        Question("sum", 1.0, column="score", by=("ward",)),
        Question("mean", 1.0, column="score"),
        Question("mean", 1.0, column="score", by=("ward",)),
        Question("quantile", 1.0, column="score"),
        Question("quantile", 1.0, column="score", by=("ward",)),
    ],
    ids=lambda question: f"{question.statistic}-by-{len(question.by)}",
)
def test_halving_epsilon_roughly_doubles_the_half_width(question):
    full = mechanisms.accuracy(question, RULES).half_width
    half = mechanisms.accuracy(dataclasses.replace(question, epsilon=0.5), RULES).half_width
    # Counts' noise is whole numbers, so their half-widths double only roughly.
    assert half / full == pytest.approx(2, rel=0.15)


# --- The noise against the stated accuracy ------------------------------------------------------


def test_counts_miss_by_more_than_the_half_width_about_5_in_100():
    rng = np.random.default_rng(1)
    frame = typed_frame(age=rng.integers(-10, 120, 2_000))
    question = Question("histogram", 0.1, column="age")
    truth = np.bincount(np.clip(frame["age"].to_numpy(int) // 10, 0, 9), minlength=10)
    errors = []
    for _ in range(400):
        answered = mechanisms.answer(question, frame, RULES)
        noisy = [value for *_, value in answered.rows]
        errors.extend(np.asarray(noisy[:10]) - truth)
        errors.append(noisy[10])  # "(other)": nothing is missing
    half_width = answered.accuracy.half_width
    assert beyond(errors, half_width) == pytest.approx(
        0.05, abs=four_standard_errors(0.05, len(errors))
    )


def test_sums_miss_by_more_than_the_half_width_about_5_in_100():
    rng = np.random.default_rng(2)
    scores = rng.uniform(-2, 12, 1_000)
    frame = typed_frame(score=scores)
    truth = np.clip(scores, 0, 10).sum()
    question = Question("sum", 0.5, column="score")
    errors = [mechanisms.answer(question, frame, RULES).rows[0][0] - truth for _ in range(1_200)]
    half_width = mechanisms.accuracy(question, RULES).half_width
    assert beyond(errors, half_width) == pytest.approx(
        0.05, abs=four_standard_errors(0.05, len(errors))
    )


def test_grouped_sums_miss_by_more_than_the_half_width_about_5_in_100():
    rng = np.random.default_rng(3)
    wards = rng.choice(["renal", "oncology", "cardiac"], 600)
    scores = rng.uniform(0, 10, 600)
    frame = typed_frame(ward=wards, score=scores)
    question = Question("sum", 0.5, column="score", by=("ward",))
    truth = {
        "renal": scores[wards == "renal"].sum(),
        "oncology": scores[wards == "oncology"].sum(),
        "(other)": scores[wards == "cardiac"].sum(),
    }
    errors = []
    for _ in range(250):
        for (ward,), value in answer_of(question, frame).items():
            errors.append(value - truth[ward])
    half_width = mechanisms.accuracy(question, RULES).half_width
    assert beyond(errors, half_width) == pytest.approx(
        0.05, abs=four_standard_errors(0.05, len(errors))
    )


def test_a_mean_of_1000_rows_is_within_its_stated_half_width_at_least_95_in_100():
    rng = np.random.default_rng(4)
    scores = rng.uniform(0, 10, 1_000)
    frame = typed_frame(score=scores)
    question = Question("mean", 0.2, column="score")
    stated = mechanisms.accuracy(question, RULES)
    assert "1,000 rows" in stated.statement
    errors = [
        mechanisms.answer(question, frame, RULES).rows[0][0] - scores.mean() for _ in range(500)
    ]
    # The bound combines two 97.5% bounds with the worst possible mean: it's conservative.
    assert beyond(errors, stated.half_width) <= 0.05 + four_standard_errors(0.05, len(errors))


def rank_gap(values: np.ndarray, chosen: float, quantile: float) -> float:
    """How many more rows lie between the chosen candidate and the quantile than between
    the best candidate and it (OpenDP's score, in rows)."""
    candidates = np.linspace(0, 10, mechanisms.QUANTILE_CANDIDATES)
    ordered = np.sort(values)
    below = np.searchsorted(ordered, candidates, side="left")
    equal = np.searchsorted(ordered, candidates, side="right") - below
    scores = np.abs(below - quantile * (len(values) - equal))
    return scores[np.argmin(np.abs(candidates - chosen))] - scores.min()


@pytest.mark.parametrize("by", [(), ("ward",)])
def test_quantiles_are_within_their_stated_rank_half_width_at_least_95_in_100(by):
    rng = np.random.default_rng(5)
    scores = rng.uniform(0, 10, 1_000)
    frame = typed_frame(ward=["renal"] * 1_000, score=scores)
    question = Question("quantile", 0.05, column="score", by=by, quantile=0.25)
    stated = mechanisms.accuracy(question, RULES)
    assert "rows lying between" in stated.statement
    gaps = []
    for _ in range(200 if not by else 120):
        chosen = answer_of(question, frame)[("renal",) if by else ()]
        gaps.append(rank_gap(scores, chosen, 0.25))
    # A union bound over the candidates: honest, and loose.
    assert beyond(gaps, stated.half_width) <= 0.05 + four_standard_errors(0.05, len(gaps))
    assert max(gaps) > 0  # the noise did move the answer: the check isn't vacuous


# --- Clamping, bins and "(other)" ---------------------------------------------------------------


def test_values_beyond_the_bounds_are_clamped_in_sums_and_means():
    scores = [1.0, 2.0, 3.0, 1e12, -1e12, np.nan]
    frame = typed_frame(ward=["renal"] * 6, score=scores)
    clamped_sum = 1 + 2 + 3 + 10 + 0
    for by in ((), ("ward",)):
        question = Question("sum", 10.0, column="score", by=by)
        half_width = mechanisms.accuracy(question, RULES).half_width
        total = answer_of(question, frame)[("renal",) if by else ()]
        assert abs(total - clamped_sum) < 4 * half_width
        mean = answer_of(Question("mean", 10.0, column="score", by=by), frame)[
            ("renal",) if by else ()
        ]
        assert 0 <= mean <= 10


def assert_counts(counts: dict, expected: dict) -> None:
    """Counts at ε = 10 (noise of ±2 or more is a few-in-a-billion event per cell), on data
    repeated ten times so that ±1 can't be mistaken for a row in the wrong cell."""
    assert list(counts) == list(expected)
    assert all(abs(counts[cell] - expected[cell]) <= 1 for cell in expected), counts


def test_out_of_range_values_land_in_the_edge_bins_and_missing_ones_in_other():
    frame = typed_frame(age=[-5, 0, 9, 55, 100, 250, None] * 10)
    counts = answer_of(Question("histogram", 10.0, column="age"), frame)
    expected = dict.fromkeys(
        [(f"[{low}, {low + 10})",) for low in range(0, 90, 10)] + [("[90, 100]",), ("(other)",)],
        0,
    )
    expected |= {("[0, 10)",): 30, ("[50, 60)",): 10, ("[90, 100]",): 20, ("(other)",): 10}
    assert_counts(counts, expected)


def test_undeclared_and_missing_values_go_to_other():
    frame = typed_frame(ward=["renal", "renal", "cardiac", "icu", None] * 10)
    counts = answer_of(Question("count", 10.0, by=("ward",)), frame)
    assert_counts(counts, {("renal",): 20, ("oncology",): 0, ("(other)",): 30})


def test_values_are_compared_with_the_declared_categories_as_text():
    frame = typed_frame(stage=[1, 2, 2, 7, None] * 10, smoker=[True, False, False, None, True] * 10)
    stages = answer_of(Question("count", 10.0, by=("stage",)), frame)
    assert_counts(stages, {("1",): 10, ("2",): 20, ("3",): 0, ("(other)",): 20})
    smokers = answer_of(Question("count", 10.0, by=("smoker",)), frame)
    assert_counts(smokers, {("True",): 20, ("False",): 20, ("(other)",): 10})


def test_the_released_cells_are_the_declared_product_whatever_the_data_holds():
    # No oncology and no "M" in the data; "cardiac" and "X" are in it but not declared.
    frame = typed_frame(ward=["renal", "cardiac", "renal"], sex=["F", "X", "F"])
    answered = mechanisms.answer(Question("count", 1.0, by=("ward", "sex")), frame, RULES)
    assert answered.columns == ["ward", "sex", "count"]
    assert [row[:2] for row in answered.rows] == [
        [ward, sex] for ward in ("renal", "oncology", "(other)") for sex in ("F", "M", "(other)")
    ]
    assert all(isinstance(row[2], int) for row in answered.rows)
    labels = {label for row in answered.rows for label in row[:2]}
    assert "cardiac" not in labels
    assert "X" not in labels

    for statistic in ("sum", "mean", "quantile"):
        answered = mechanisms.answer(
            Question(statistic, 1.0, column="age", by=("ward",)),
            frame.assign(age=pd.Series([1, 2, 3], dtype="Int64")),
            RULES,
        )
        assert answered.columns == ["ward", statistic]
        assert [row[0] for row in answered.rows] == ["renal", "oncology", "(other)"]


def test_a_histogram_is_grouped_with_its_own_column_first():
    frame = typed_frame(ward=["renal", "oncology"], age=[5, 95])
    answered = mechanisms.answer(
        Question("histogram", 1.0, column="age", by=("ward",)), frame, RULES
    )
    assert answered.columns == ["age", "ward", "count"]
    assert len(answered.rows) == 11 * 3
    assert answered.rows[0][:2] == ["[0, 10)", "renal"]


def test_an_empty_table_is_answered_with_the_declared_cells():
    frame = typed_frame(ward=[], score=[])
    for statistic in ("sum", "mean", "quantile"):
        for by in ((), ("ward",)):
            answered = mechanisms.answer(
                Question(statistic, 1.0, column="score", by=by), frame, RULES
            )
            assert len(answered.rows) == (3 if by else 1)


# --- The privacy unit and the loss ----------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        Question("count", 1.0, by=("ward",)),
        Question("histogram", 1.0, column="age"),
        Question("sum", 1.0, column="score"),
        Question("sum", 1.0, column="score", by=("ward",)),
        Question("mean", 1.0, column="score", by=("ward",)),
        Question("quantile", 1.0, column="score"),
    ],
    ids=lambda question: f"{question.statistic}-by-{len(question.by)}",
)
def test_two_rows_per_person_double_the_scale(question):
    two_rows = mechanisms.accuracy(question, RULES, rows_per_person=2)
    # Same scale as half the ε for one row each, so the same half-width (but for OpenDP's
    # allowance for float rounding in sums, which doesn't grow with the rows).
    half_epsilon = mechanisms.accuracy(dataclasses.replace(question, epsilon=0.5), RULES)
    assert two_rows.half_width == pytest.approx(half_epsilon.half_width, rel=1e-4)
    one_row = mechanisms.accuracy(question, RULES)
    assert two_rows.half_width == pytest.approx(2 * one_row.half_width, rel=0.15)


def test_grouping_costs_no_accuracy_each_group_gets_the_whole_epsilon():
    # OpenDP accounts for a person's row landing in one group only (parallel composition).
    for statistic, column in (("count", ""), ("sum", "score"), ("mean", "score")):
        alone = mechanisms.accuracy(Question(statistic, 1.0, column=column), RULES)
        grouped = mechanisms.accuracy(
            Question(statistic, 1.0, column=column, by=("ward", "sex")), RULES
        )
        assert grouped.half_width == pytest.approx(alone.half_width, rel=1e-3)
    for quantile in (0.5, 0.9):
        alone = mechanisms.accuracy(
            Question("quantile", 1.0, column="score", quantile=quantile), RULES
        )
        grouped_question = Question(
            "quantile", 1.0, column="score", by=("ward",), quantile=quantile
        )
        grouped = mechanisms.accuracy(grouped_question, RULES)
        assert grouped.half_width == pytest.approx(alone.half_width, rel=1e-6)
        # ...but a person with two rows may shift two groups' rankings by two each
        two_rows = mechanisms.accuracy(grouped_question, RULES, rows_per_person=2)
        assert two_rows.half_width == pytest.approx(4 * grouped.half_width, rel=1e-6)


@pytest.mark.parametrize("rows_per_person", [1, 3])
def test_the_loss_reported_is_opendps_and_never_more_than_asked(rows_per_person):
    frame = typed_frame(ward=["renal", "oncology"], sex=["F", "M"], score=[1.0, 2.0])
    for question in (
        Question("count", 0.3),
        Question("count", 0.3, by=("ward", "sex")),
        Question("histogram", 0.3, column="score", by=("ward",)),
        Question("sum", 0.3, column="score"),
        Question("sum", 0.3, column="score", by=("ward", "sex")),
        Question("mean", 0.3, column="score"),
        Question("mean", 0.3, column="score", by=("ward",)),
        Question("quantile", 0.3, column="score", quantile=0.9),
        Question("quantile", 0.3, column="score", by=("ward",)),
    ):
        answered = mechanisms.answer(question, frame, RULES, rows_per_person=rows_per_person)
        assert 0.3 * 0.999 <= answered.epsilon <= 0.3


def test_a_grouped_count_over_a_million_rows():
    rng = np.random.default_rng(6)
    wards = np.array(["renal", "oncology", "cardiac"])[rng.integers(0, 3, 1_000_000)]
    sexes = np.array(["F", "M"])[rng.integers(0, 2, 1_000_000)]
    frame = typed_frame(ward=wards, sex=sexes)
    counts = answer_of(Question("count", 10.0, by=("ward", "sex")), frame)
    assert len(counts) == 9
    for (ward, sex), count in counts.items():
        in_ward = wards == ward if ward != "(other)" else wards == "cardiac"
        truth = int(np.sum(in_ward & (sexes == sex))) if sex != "(other)" else 0
        assert abs(count - truth) <= 2
