"""The researcher's whole journey from the terminal: the `tre` client as a subprocess
against the live portal (pytest-django's live server) and a real Celery worker.

Log in with a token made as the portal makes it, list the datasets, download the
synthetic sample, dry-run a script and save its outputs, run it on the real data, ask for
its table's release, which two output checkers approve (through the airlock's services,
as their pages do), and download the released table with its checksum verified."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from accounts import tokens
from jobs import airlock
from jobs.models import JobOutput, ReleaseRequest
from privacy import services as privacy_services
from tests.conftest import ROOT
from tests.factories import MembershipFactory, UserFactory
from tre.demo import PRIVACY_COLUMNS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCRIPT = """import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
by_ward = admissions.groupby("ward").size().rename("admissions").reset_index()
tre_sdk.save_table("by_ward", by_ward, kind="frequency", description="Admissions per ward")
print("wards:", len(by_ward))
"""


@pytest.fixture
def version(worker_version):
    return worker_version


@pytest.fixture
def tre(tmp_path, live_server):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "cli"),
        "TRE_CONFIG": str(tmp_path / "config" / "tre.json"),
    }
    env.pop("TRE_TOKEN", None)
    env.pop("TRE_URL", None)

    def run(*args, expect=0):
        done = subprocess.run(
            [sys.executable, "-m", "tre_cli", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == expect, (args, done.stdout, done.stderr)
        return done

    return run


def test_the_whole_journey_from_the_terminal(
    tre, tmp_path, live_server, version, workspace, researcher, checker
):
    _, plaintext = tokens.create_token(
        user=researcher, by=researcher, name="laptop", scope="submit", days=30
    )
    tre("login", live_server.url, "--token", plaintext)
    assert oct((tmp_path / "config" / "tre.json").stat().st_mode & 0o777) == "0o600"

    datasets = json.loads(tre("datasets", "--json").stdout)
    assert [dataset["name"] for dataset in datasets] == ["admissions"]
    tre("sample", "admissions", "-o", "sample.csv")
    assert (tmp_path / "sample.csv").read_text().splitlines()[0].count(",") >= 3

    (tmp_path / "analysis.py").write_text(SCRIPT)
    dry = tre("run", "analysis.py", "--dataset", "admissions", "--dry", "--wait", "-o", "dry")
    assert "wards: 5" in dry.stdout
    assert (tmp_path / "dry" / "by_ward.csv").exists()

    real = json.loads(
        tre("run", "analysis.py", "--dataset", "admissions", "--real", "--wait", "--json").stdout
    )
    job_id = real["id"]
    assert real["state"] == "finished"
    assert real["log"] is None  # a real run's log is for the checkers

    release = json.loads(
        tre("release", str(job_id), "--output", "by_ward", "--why", "Table 1", "--json").stdout
    )
    request = ReleaseRequest.objects.get(pk=release["id"])
    checker2 = UserFactory(username="kai")
    MembershipFactory(workspace=workspace, user=checker2, roles=["output_checker"])
    for reviewer in (checker, checker2):
        for item in request.items.all():
            airlock.vote(request=request, item=item, decision="approve", by=reviewer)
        request = airlock.submit_review(request=request, by=reviewer)
    airlock.release(request=request, by=checker2)

    tre("download", str(job_id), "-o", "released")
    table = (tmp_path / "released" / "by_ward.csv").read_bytes()
    stored = JobOutput.objects.get(job_id=job_id, name="by_ward")
    assert hashlib.sha256(table).hexdigest() == stored.sha256


def test_a_question_with_differential_privacy_from_the_terminal(
    tre, live_server, version, researcher, checker
):
    privacy_services.set_budget(version=version, by=checker, epsilon=2, columns=PRIVACY_COLUMNS)
    _, plaintext = tokens.create_token(
        user=researcher, by=researcher, name="laptop", scope="submit", days=30
    )
    tre("login", live_server.url, "--token", plaintext)

    # Off a terminal, nothing is spent without --yes.
    refused = tre("ask", "admissions", "count", "--by", "ward", "--epsilon", "0.5", expect=2)
    assert "needs --yes" in refused.stderr
    assert json.loads(tre("budget", "admissions", "--json").stdout)["spent"] == "0"

    asked = tre(
        "ask", "admissions", "count", "--by", "ward", "--epsilon", "0.5", "--yes", "--wait",
        "--json",
    )  # fmt: skip
    answered = json.loads(asked.stdout)
    assert "This spends ε 0.5 of the ε 2 left for you." in asked.stderr
    assert (answered["status"], answered["released_by"]) == ("answered", "differential privacy")
    wards = PRIVACY_COLUMNS["ward"]["categories"]
    assert [row[0] for row in answered["answer"]["rows"]] == [*wards, "(other)"]

    budget = json.loads(tre("budget", "admissions", "--json").stdout)
    assert (budget["spent"], budget["left"], budget["left_for_you"]) == ("0.5", "1.5", "1.5")
    assert [spend["id"] for spend in budget["questions"]] == [answered["id"]]
    table = tre("answer", str(answered["id"])).stdout
    assert "Released by differential privacy:" in table
    assert "cardiology" in table
