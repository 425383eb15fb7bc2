"""The red-team suite: hostile real-data scripts, one per channel, through a real worker.

Each script in `scripts/` reads row 0 of the real data and tries to get its values to the
researcher through one channel. It runs twice, on two real datasets that differ only in
that row (A and B), through the real broker and a real Celery worker. The researcher then
fetches every page and fragment about the job, as a browser would (job page, live status,
job list, workspace page, release form, the request made from it, its list, the output
files), and the two sets must be the same once ids, times and CSRF tokens are set aside:
whatever the script did with the values, nothing the researcher sees depends on them
(noninterference, tested rather than argued).

A channel the platform allows on purpose (docs/security.md's table) is named on the
script's `# allowed:` line by the `data-testid` of the element that carries it; there the
pages may differ, but only by values of that element's fixed vocabulary. And every run
must be shown as ended only at one of the fixed moments of `jobs.channels`. A new channel
is a new file in `scripts/`.
"""

import json
import re
import time
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.utils import timezone

from jobs import channels, services
from jobs.models import Job
from tests.auth import SignedInClient
from tests.factories import admissions_csv, upload_of
from tre.permissions import Role
from workspaces import services as workspace_services
from workspaces.models import Workspace
from workspaces.services.datasets import suggested_decisions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCRIPTS = sorted((Path(__file__).parent / "scripts").glob("*.py"))
# Row 0 of the two real datasets: everything else is the same.
SECRETS = {
    "a": {"age": "59", "ward": "oncology", "length_of_stay": "12.5"},
    "b": {"age": "23", "ward": "renal", "length_of_stay": "3.5"},
}
HEADER = "patient_name,nhs_number,email,postcode,date_of_birth,age,ward,length_of_stay,readmitted"


def real_data(which: str) -> str:
    lines = admissions_csv(300).splitlines()
    assert lines[0] == HEADER
    cells = lines[1].split(",")
    secret = SECRETS[which]
    cells[5], cells[6], cells[7] = secret["age"], secret["ward"], secret["length_of_stay"]
    cells[4] = f"{2024 - int(secret['age'])}-06-15"
    lines[1] = ",".join(cells)
    return "\n".join(lines) + "\n"


# Allowed for every script: the coarse figures, a documented channel whose step a run near
# a step's edge may cross by chance (the reveal moments are checked apart).
ALWAYS_ALLOWED = {"job-figures"}


def read_header(script: Path) -> dict:
    header = {"allowed": set(ALWAYS_ALLOWED), "limits": {}}
    for line in script.read_text().splitlines():
        if line.startswith("# allowed:"):
            header["allowed"] |= set(line.split(":", 1)[1].split())
        elif line.startswith("# limits:"):
            header["limits"] = json.loads(line.split(":", 1)[1])
    return header


# --- what a researcher's pages may say in the allowed elements -----------------------

RULES = (
    "threshold|dominance-nk|p-ratio|row-level|identifiers|file-type|size|degrees-of-freedom|"
    "zeros|no-cell-data|human-review|unverified-claims|treatments|extremes|differencing"
)
STEP = "|".join(
    re.escape(label)
    for label in [label for _, label in channels.TIME_STEPS]
    + [channels.TIME_BEYOND]
    + [channels.size_step(10**power) for power in range(0, 13)]
)
VOCABULARY = {
    "job-status": r"(Finished|Failed|Timed out|Over a limit|Cancelled)",
    "job-reason": r"(The script failed|(Ran longer than|Used more than|Wrote more than|Wrote a "
    r"file as large as) the (limit of )?[\d,]+ ?(s|byte)? ?[a-z -]*(limit|files))",
    "job-failure": r"The script raised (an exception|(?P<type>\w+))( at line (?P<line>\d+))?\.",
    "job-figures": rf"((Runtime|CPU|Peak memory|Output) ({STEP}) ?)*",
    "job-outputs": "LISTING",
    "release-choices": "LISTING",
    "release-items": "LISTING",
}
# Inside the output listings: each output's label, type and verdict, and the platform's
# own fixed sentences; nothing else.
OUTPUT_ITEM = (
    r"(?P<label>[A-Za-z][\w-]{0,63}|output \d+|full_log) "
    r"(table|metric|figure|text|log|other file)"
    r"( (pending|approved|changes requested|rejected|conflicted))?"
    rf"( Automated checks: (pass|fail|needs human review)( rules: ({RULES})( ?, ({RULES}))*)?)?"
)
FIXED_SENTENCES = [
    "The checks' details (which cells, how many) are for the output checkers: a script could "
    "choose them by the data.",
    "These outputs come from the real data. They wait in the airlock: nobody sees them until "
    "output checkers have released them. Their names show only where your script wrote them "
    "as text; what each holds, and its log, are for the checkers.",
    "Request release",
    "No outputs.",
    "What it is: x Why it is needed: y",  # what the test's researcher wrote
    "What it is",
    "Why it is needed",
]


def is_listing(text: str) -> bool:
    for sentence in FIXED_SENTENCES:
        text = text.replace(sentence, " ")
    text = " ".join(text.split())
    text = text.removeprefix("Outputs").strip()
    return re.fullmatch(rf"({OUTPUT_ITEM}\s*)*", text) is not None


class Regions(HTMLParser):
    """The page as text, with the allowed elements' text collected apart and replaced
    by a marker: what is left must be equal between A and B."""

    def __init__(self, allowed: set[str]):
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.out: list[str] = []
        self.regions: list[tuple[str, str]] = []
        self.stack: list[tuple[str, str | None]] = []  # (tag, region it opens)
        self.capture: list[str] | None = None
        self.depth = 0

    VOID = {"input", "br", "img", "meta", "link", "hr", "source", "wbr", "area", "col"}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.capture is not None:
            if tag not in self.VOID:
                self.depth += 1
            self.capture.append(" ")
            return
        testid = attributes.get("data-testid")
        if testid in self.allowed and tag not in self.VOID:
            self.capture, self.depth = [], 1
            self.regions.append((testid, ""))
            return  # present or not, it is compared by its vocabulary alone
        shown = " ".join(f'{name}="{value}"' for name, value in sorted(attributes.items()))
        self.out.append(f"<{tag} {shown}>")

    def handle_endtag(self, tag):
        if self.capture is not None:
            if tag in self.VOID:
                return
            self.depth -= 1
            if self.depth == 0:
                testid, _ = self.regions[-1]
                self.regions[-1] = (testid, " ".join("".join(self.capture).split()))
                self.capture = None
            else:
                self.capture.append(" ")
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        (self.capture if self.capture is not None else self.out).append(data)


def normalise(html: str, ids: dict[str, list[str]]) -> str:
    """Set aside what differs between any two runs: ids (each kind only in the places it
    stands, so that no other number is touched), times and dates, CSRF tokens."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
    html = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?", "DATE", html)
    html = re.sub(r"\b\d{2}:\d{2}:\d{2}\b", "TIME", html)
    places = {
        "job": [r"(?<=/jobs/){}(?=/)", r"(?<=from=){}\b", r"(?<=[Jj]ob #){}\b", r"(?<=>#){}\b"],
        "output": [
            r"(?<=/outputs/){}(?=/)",
            r'(?<=include-){}(?=")',
            r'(?<=what-){}(?=")',
            r'(?<=why-){}(?=")',
            r'(?<=option value="){}(?=")',
        ],
        "dataset": [r"(?<=/datasets/){}(?=/)"],
        "release": [r"(?<=/releases/){}(?=/)", r"(?<=[Rr]equest #){}\b", r"(?<=>#){}\b"],
        "item": [r"(?<=/items/){}(?=/)", r'(?<=name="item" value="){}(?=")'],
    }
    for kind, values in ids.items():
        for number, value in enumerate(values):
            for place in places[kind]:
                html = re.sub(place.format(value), f"{kind.upper()}{number}", html)
    return html


def checked_regions(html: str, allowed: set[str], script: str) -> tuple[str, list]:
    parser = Regions(allowed)
    parser.feed(html)
    parser.close()
    for testid, text in parser.regions:
        pattern = VOCABULARY[testid]
        if pattern == "LISTING":
            assert is_listing(text), f"{testid} says more than its vocabulary: {text[:600]!r}"
            continue
        match = re.fullmatch(pattern, text)
        assert match, f"{testid} says more than its vocabulary: {text[:300]!r}"
        if testid == "job-failure" and match["type"]:
            assert match["type"] in channels.BUILTIN_EXCEPTIONS
        if testid == "job-failure" and match["line"]:
            assert int(match["line"]) <= script.count("\n") + 1
    return " ".join("".join(parser.out).split()), parser.regions


# --- the runs ----------------------------------------------------------------------------


@pytest.fixture
def researcher_and_checker(db):
    from tests.factories import UserFactory, make_data_steward

    return UserFactory(username="mallory"), make_data_steward(UserFactory(username="steward"))


def real_workspace(which, researcher, checker, limits):
    workspace = Workspace.objects.create(name="Red team", slug=f"red-{which}", job_limits=limits)
    for user, role in ((researcher, Role.RESEARCHER), (checker, Role.OUTPUT_CHECKER)):
        workspace.memberships.create(user=user, roles=[role.value])
    version = workspace_services.ingest_dataset(
        workspace=workspace, upload=upload_of(real_data(which)), by=checker, name="admissions"
    )
    version = workspace_services.decide_columns(
        version=version, decisions=suggested_decisions(version), by=checker
    )
    return workspace, version


def shown_state(client, job) -> str:
    fragment = client.get(f"/workspaces/{job.workspace.slug}/jobs/{job.pk}/status/")
    assert fragment.status_code == 200
    return re.search(r'data-testid="job-status">([^<]*)<', fragment.content.decode())[1]


def wait_until_shown_ended(client, jobs, seconds=120) -> dict:
    """Poll the live fragment as the researcher's browser does (more often, to time it):
    when did each job first show as ended, in seconds after its submission?"""
    shown = {}
    deadline = time.monotonic() + seconds
    while len(shown) < len(jobs) and time.monotonic() < deadline:
        for job in jobs:
            if job.pk not in shown and shown_state(client, job) != "In progress":
                shown[job.pk] = (timezone.now() - job.created_at).total_seconds()
        time.sleep(0.05)
    assert len(shown) == len(jobs), "a real run was never shown as ended"
    return shown


def researcher_pages(client, job) -> tuple[list[tuple[str, int, str]], dict[str, list]]:
    """Every page and fragment about the job a researcher can fetch, and the ids in them."""
    base = f"/workspaces/{job.workspace.slug}"
    job_url = f"{base}/jobs/{job.pk}/"
    outputs = list(job.outputs.order_by("position", "pk"))
    ids = {
        "job": [str(job.pk)],
        "output": [str(output.pk) for output in outputs],
        "dataset": [str(version.dataset_id) for version in job.dataset_versions.all()],
    }
    pages = []
    for url in (job_url, f"{job_url}status/", f"{base}/jobs/", f"{base}/", f"{job_url}release/"):
        response = client.get(url)
        pages.append((url.replace(job.workspace.slug, "WS"), response.status_code,
                      response.content.decode()))  # fmt: skip
    data = {"description": "A release"}
    for output in outputs:
        data.update({f"include-{output.pk}": "on", f"what-{output.pk}": "x",
                     f"why-{output.pk}": "y"})  # fmt: skip
    response = client.post(f"{job_url}release/", data, follow=True)
    pages.append(("release form, posted", response.status_code, response.content.decode()))
    release = job.release_requests.first()
    if release is not None:
        ids["release"] = [str(release.pk)]
        ids["item"] = [str(item.pk) for item in release.items.all()]
    pages.append(("releases", *_get(client, f"{base}/releases/")))
    # Every output's file is refused: one entry, as how many there are may differ.
    statuses = {client.get(f"{job_url}outputs/{output.pk}/").status_code for output in outputs}
    pages.append(("the outputs' files", 403, "") if statuses == {403} else ("files", 0, ""))
    normalised = [
        (name, status, normalise(html.replace(job.workspace.slug, "WS"), ids))
        for name, status, html in pages
    ]
    return normalised, ids


def _get(client, url):
    response = client.get(url)
    return response.status_code, response.content.decode()


@pytest.mark.parametrize("script_path", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_nothing_the_researcher_sees_depends_on_the_data(
    celery_worker_process, researcher_and_checker, script_path
):
    researcher, checker = researcher_and_checker
    header = read_header(script_path)
    script = script_path.read_text()
    jobs = {}
    for which in ("a", "b"):
        workspace, version = real_workspace(which, researcher, checker, header["limits"])
        jobs[which] = services.submit_job(
            workspace=workspace, script=script, dataset_versions=[version],
            mode=Job.Mode.REAL, by=researcher,
        )  # fmt: skip
    client = SignedInClient()
    client.force_login(researcher)
    shown_after = wait_until_shown_ended(client, list(jobs.values()))

    moments = [*channels.REVEAL_MOMENTS, *(3600 * n for n in range(2, 25))]
    for which, job in jobs.items():
        job.refresh_from_db()
        assert job.has_ended, f"{which}: shown as ended while {job.status}"
        moment = channels.reveal_moment(job.created_at, job.finished_at)
        assert moment >= job.finished_at
        # Shown at one of the fixed moments (polled every 50 ms; a page takes a few ms).
        assert any(0 <= shown_after[job.pk] - at < 0.75 for at in moments), (
            which, shown_after[job.pk], (job.finished_at - job.created_at).total_seconds(),
        )  # fmt: skip
        assert job.log == ""

    seen = {}
    for which, job in jobs.items():
        pages, _ = researcher_pages(client, job)
        seen[which] = [
            (name, status, *checked_regions(html, header["allowed"], script))
            for name, status, html in pages
        ]
    for page_a, page_b in zip(seen["a"], seen["b"], strict=True):
        name, status_a, html_a, _ = page_a
        _, status_b, html_b, _ = page_b
        assert status_a == status_b, name
        if html_a != html_b:
            difference = next(
                i for i, (x, y) in enumerate(zip(html_a, html_b, strict=False)) if x != y
            )
            pytest.fail(
                f"{name} differs between the two datasets near: "
                f"A {html_a[max(0, difference - 200) : difference + 200]!r} "
                f"B {html_b[max(0, difference - 200) : difference + 200]!r}"
            )

    # The secret values in any form the suite's scripts use are on no page, A's or B's.
    for which, pages in seen.items():
        secret = SECRETS[which]
        for name, _, html, regions in pages:
            text = html + " ".join(text for _, text in regions)
            for value in (secret["ward"], f">{secret['age']}<", f" {secret['age']} "):
                assert value not in text, (which, name, value)
    for job in jobs.values():
        for output in job.outputs.all():
            assert SignedInClient().get(f"/workspaces/{job.workspace.slug}/jobs/{job.pk}/outputs/"
                                f"{output.pk}/").status_code in (302, 403)  # fmt: skip


def test_the_allowed_channels_are_within_their_documented_bound():
    """The bound docs/security.md states for the per-run channels, recomputed here so the
    table cannot drift from the code: log2 of the number of values each can take."""
    import math

    wall = 1800 + 600  # the default wall-clock limit and ten minutes in the queue
    bits = {
        "state": math.log2(len(channels.ENDED_STATES) + 4),  # four limits to be over
        "reveal moment": math.log2(channels.reveal_moments_within(wall)),
        "figures": math.log2(5) * 2 + math.log2(13) * 2,
        "failure": math.log2(len(channels.BUILTIN_EXCEPTIONS) + 1),
    }
    assert bits["reveal moment"] < 4
    assert bits["failure"] < 7
    assert sum(bits.values()) < 30
    assert timedelta(seconds=channels.REVEAL_MOMENTS[0]) == timedelta(seconds=1)
