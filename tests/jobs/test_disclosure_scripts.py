"""The airlock as a researcher would test it: each attempt is a script on the real data.

Every attempt is caught by the automated checks or held for human review, and nothing
can be downloaded before output checkers release it.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import runtime, services
from jobs.models import Job

pytestmark = pytest.mark.django_db

LOAD = "import tre_sdk\ndf = tre_sdk.load_dataset('admissions')\n"

ATTEMPTS = {
    "print rows to stdout": (LOAD + "print(df.head(20).to_string())\n", None, None),
    "save the dataset as a CSV output": (
        LOAD + "tre_sdk.save_table('everything', df)\n", "everything", {"row-level"}),
    "a frequency table with cells of 1 to 9": (
        LOAD + "tre_sdk.save_table('by_ward', tre_sdk.crosstab(df, 'ward', 'readmitted'))\n",
        "by_ward", {"threshold"}),
    "a mean over a group of 3": (
        LOAD + "small = df.head(3)\n"
        "tre_sdk.save_table('mean_stay', tre_sdk.pivot_table(small, 'ward', 'length_of_stay'))\n",
        "mean_stay", {"threshold"}),
    "a table where one person dominates a sum": (
        LOAD + "df['cost'] = 1.0\ndf.loc[df.index[0], 'cost'] = 1_000_000.0\n"
        "by_group = tre_sdk.pivot_table(df, 'readmitted', 'cost', aggfunc='sum')\n"
        "tre_sdk.save_table('cost', by_group)\n",
        "cost", {"dominance-nk"}),
    "a pickle": (
        LOAD + "import pickle\npickle.dump(df, open('frame.pkl', 'wb'))\n", "frame", {"file-type"}),
    "a zip": (
        LOAD + "import zipfile\n"
        "with zipfile.ZipFile('data.zip', 'w') as z:\n    z.writestr('d.csv', df.to_csv())\n",
        "data", {"file-type"}),
    "a histogram with a bar of 2": (
        LOAD + "fig = tre_sdk.hist(df['age'], bins=40)\ntre_sdk.save_figure('ages', fig)\n",
        "ages", {"threshold"}),
}  # fmt: skip


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_each_attempt_is_caught_or_held(client, attempt, ready_version, workspace, researcher,
                                        django_capture_on_commit_callbacks):  # fmt: skip
    script, output_name, rules = ATTEMPTS[attempt]
    with django_capture_on_commit_callbacks():
        job = services.submit_job(workspace=workspace, script=script, mode=Job.Mode.REAL,
                                  dataset_versions=[ready_version], by=researcher)  # fmt: skip
    job = runtime.run_job(job_id=job.pk)
    assert job.status == Job.Status.FINISHED, job.status_reason

    outputs = {output.name: output for output in job.outputs.all()}
    for output in outputs.values():
        assert output.verdict["status"] in ("fail", "review"), (output.name, output.verdict)
    if rules:
        verdict = outputs[output_name].verdict
        assert verdict["status"] == "fail"
        assert rules <= {reason["rule"] for reason in verdict["reasons"]}
    else:
        # Printed rows reach only the full log, which always goes to human review; the
        # researcher's view of the log has no value from the data in it.
        assert outputs["full_log"].verdict["status"] in ("fail", "review")
        for ward in ("cardiology", "oncology", "renal", "maternity", "surgery"):
            assert ward not in job.log

    client.force_login(researcher)
    urls = [f"/workspaces/{workspace.slug}/jobs/{job.pk}/outputs/{o.pk}/" for o in outputs.values()]

    # Before its reveal moment the run has no outputs for anyone (jobs.channels); after
    # it, an unreleased one is refused. The run's times are moved, so that the test does
    # not depend on how long the checks took.
    def submitted(when):
        Job.objects.filter(pk=job.pk).update(created_at=when, finished_at=when)

    submitted(timezone.now() + timedelta(minutes=10))
    assert {client.get(url).status_code for url in urls} == {404}
    submitted(timezone.now() - timedelta(minutes=10))
    for output, url in zip(outputs.values(), urls, strict=True):
        assert client.get(url).status_code == 403, output.name
