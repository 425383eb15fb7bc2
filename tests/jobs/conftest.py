"""Jobs submitted for the tests to run in-process (the task is not sent), and the SDK."""

import importlib.util
from pathlib import Path

import pytest

from jobs import services
from jobs.models import Job

SCRIPT = """
import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
by_ward = admissions.groupby("ward").size().rename("admissions").reset_index()
tre_sdk.save_table("by_ward", by_ward, kind="frequency", description="per ward")
tre_sdk.save_metric("rows", len(admissions))
print("rows:", len(admissions))
"""


def submit(workspace, by, version, script=SCRIPT, mode=Job.Mode.DRY_RUN, callbacks=None):
    return services.submit_job(
        workspace=workspace, script=script, dataset_versions=[version], mode=mode, by=by
    )


@pytest.fixture
def queued(ready_version, researcher, workspace, django_capture_on_commit_callbacks):
    def make(**kwargs):
        with django_capture_on_commit_callbacks():  # the task is not sent: we run it here
            return submit(workspace, researcher, ready_version, **kwargs)

    return make


SDK_PATH = Path(__file__).resolve().parents[2] / "jobs" / "sdk" / "tre_sdk.py"


@pytest.fixture
def sdk(tmp_path):
    """A fresh copy of the SDK writing to this test's directory, as in the sandbox."""
    from jobs.manifest import MANIFEST_NAME

    spec = importlib.util.spec_from_file_location("tre_sdk_under_test", SDK_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUTPUT = tmp_path
    module.INPUTS = tmp_path
    module.MANIFEST = tmp_path / MANIFEST_NAME
    return module
