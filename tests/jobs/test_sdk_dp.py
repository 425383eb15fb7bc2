"""`tre_sdk.dp` in a script: it writes questions down and answers nothing itself."""

import json

import pandas as pd
import pytest

from privacy import script_questions


@pytest.fixture
def admissions(sdk, tmp_path):
    pd.DataFrame({"ward": ["renal", "oncology"] * 10, "age": range(20)}).to_parquet(
        tmp_path / "admissions.parquet"
    )
    return sdk.load_dataset("admissions")


def test_questions_are_written_down_and_nothing_is_answered(sdk, admissions, tmp_path):
    assert sdk.dp.count(admissions, by=["ward"], epsilon=0.5) is None
    assert sdk.dp.quantile("admissions", "age", 0.9, by="ward", epsilon=0.25) is None
    written = json.loads((tmp_path / script_questions.QUESTIONS_FILE).read_text())
    assert written == [
        {"dataset": "admissions", "statistic": "count", "column": "", "by": ["ward"],
         "epsilon": 0.5, "quantile": None},
        {"dataset": "admissions", "statistic": "quantile", "column": "age", "by": ["ward"],
         "epsilon": 0.25, "quantile": 0.9},
    ]  # fmt: skip
    assert script_questions.read_asked(tmp_path)[1]["quantile"] == 0.9


def test_a_filtered_frame_is_not_a_dataset(sdk, admissions):
    with pytest.raises(ValueError, match="not the whole 'admissions' dataset"):
        sdk.dp.count(admissions[admissions["age"] > 3], epsilon=0.5)
    with pytest.raises(ValueError, match="whole dataset as stored"):
        sdk.dp.count(pd.DataFrame({"ward": ["a"]}), epsilon=0.5)
    with pytest.raises(KeyError):
        sdk.dp.count("prescriptions", epsilon=0.5)


def test_a_script_asks_at_most_twenty(sdk, admissions):
    for _ in range(20):
        sdk.dp.count(admissions, epsilon=0.01)
    with pytest.raises(ValueError, match="at most 20"):
        sdk.dp.count(admissions, epsilon=0.01)


@pytest.mark.parametrize(
    "content",
    [b"not json", b"{}", b'[1, "two", null]', b"[" + b'{"statistic": "count"},' * 5000 + b"{}]"],
)
def test_a_hostile_questions_file_is_no_question(tmp_path, content):
    (tmp_path / script_questions.QUESTIONS_FILE).write_bytes(content)
    asked = script_questions.read_asked(tmp_path)
    assert len(asked) <= script_questions.MAX_QUESTIONS
    assert all(isinstance(entry, dict) for entry in asked)


def test_a_questions_file_that_is_a_link_is_not_followed(tmp_path):
    secret = tmp_path / "elsewhere.json"
    secret.write_text('[{"dataset": "admissions", "statistic": "count", "epsilon": 1}]')
    (tmp_path / script_questions.QUESTIONS_FILE).symlink_to(secret)
    assert script_questions.read_asked(tmp_path) == []
