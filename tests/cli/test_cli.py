"""The `tre` command-line client (cli/), as a researcher's shell runs it.

Each test runs `python -m tre_cli` as a subprocess against a small real HTTP server on
127.0.0.1 that plays the responses of the API contract (`api/`, `/api/v1/`). That fake
portal stands in for the real one only here, where what is tested is the client's own
behaviour: its configuration file and environment, its error lines and exit codes, its
retries, its checksum checks, its `--json` output and how it follows a job.
tests/integration/ runs the CLI against the real portal and a real worker.

No database: these tests touch nothing of Django's.
"""

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

CLI_ROOT = Path(__file__).resolve().parents[2] / "cli"
TOKEN = "tre_" + "k" * 40
OTHER_TOKEN = "tre_" + "z" * 40
ME = {
    "username": "rae",
    "token": {"name": "laptop", "scope": "submit", "expires_at": "2026-12-01T00:00:00Z"},
}
CARDIAC = {"slug": "cardiac", "name": "Cardiac study", "roles": ["researcher"]}
ONCOLOGY = {"slug": "oncology", "name": "Oncology study", "roles": ["researcher"]}
JOBS = "/api/v1/workspaces/cardiac/jobs"


# --- the fake portal -------------------------------------------------------------------


@dataclass
class Reply:
    """One answer of the fake portal."""

    status: int = 200
    json: object = None
    body: bytes | None = None
    headers: dict = field(default_factory=dict)
    # Close the connection without answering, as a dropped connection does.
    drop: bool = False


def file_reply(content: bytes, *, filename=None, checksum=None) -> Reply:
    """A file download as the API sends it: its SHA-256 in a header (the true one unless
    `checksum` says otherwise)."""
    headers = {
        "Content-Type": "text/csv",
        "X-Checksum-SHA256": checksum or hashlib.sha256(content).hexdigest(),
    }
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Reply(body=content, headers=headers)


def refusal(status: int, detail: str, **headers) -> Reply:
    return Reply(status=status, json={"detail": detail}, headers=headers)


@dataclass
class Received:
    method: str
    path: str
    query: dict
    headers: dict
    body: object
    raw_query: str = ""  # as sent: a repeated parameter is in it twice


class FakePortal:
    """Answers each (method, path) with the replies given by `on`, in order, the last one
    again and again; a reply may be a function of the request. Records every request."""

    def __init__(self):
        self.url = ""
        self.received: list[Received] = []
        self._replies: dict[tuple[str, str], list] = {}
        self._lock = threading.Lock()
        # Set when the test ends, so a reply that holds a request open lets go.
        self.closing = threading.Event()

    def on(self, method: str, path: str, *replies) -> None:
        self._replies[(method, path)] = list(replies)

    def asked(self, method: str, path: str) -> list[Received]:
        return [one for one in self.received if (one.method, one.path) == (method, path)]

    def answer(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            queue = self._replies.get((received.method, received.path))
            if not queue:
                return refusal(404, "Not found.")
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(received) if callable(reply) else reply


class _PortalHandler(BaseHTTPRequestHandler):
    portal: FakePortal

    def do_GET(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.portal.answer(
            Received(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=json.loads(raw) if raw else None,
                raw_query=parts.query,
            )
        )
        if reply.drop:
            self.close_connection = True
            return
        body = reply.body if reply.body is not None else json.dumps(reply.json).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format, *args):
        pass


@pytest.fixture
def portal():
    fake = FakePortal()
    handler = type("Handler", (_PortalHandler,), {"portal": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    fake.on("GET", "/api/v1/me", Reply(json=ME))
    fake.on("GET", "/api/v1/workspaces", Reply(json=[CARDIAC]))
    yield fake
    fake.closing.set()
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def job(**changes) -> dict:
    """A `job` as the contract shows it."""
    return {
        "id": 12,
        "title": "",
        "mode": "dry_run",
        "state": "queued",
        "state_label": "Queued",
        "has_ended": False,
        "reason": "",
        "failure_type": "",
        "failure_line": None,
        "submitted_at": "2026-01-05T10:00:00Z",
        "started_at": None,
        "runtime": None,
        "fingerprint": "f-queued",
        "datasets": ["admissions@1"],
        "log": None,
        "outputs": [],
        **changes,
    }


def output(output_id: int, name: str, **changes) -> dict:
    return {
        "id": output_id,
        "name": name,
        "type": "table",
        "kind": "frequency",
        "size_bytes": 12,
        "sha256": "0" * 64,
        "download": f"{JOBS}/12/outputs/{output_id}",
        **changes,
    }


# --- running the client ------------------------------------------------------------------


@pytest.fixture
def home(tmp_path):
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


@pytest.fixture
def config_file(home):
    return home / ".config" / "tre" / "config.json"


def cli_environment(home: Path, overrides: dict) -> dict:
    # Nothing of the test run's own TRE_* settings or proxies leaks into the client.
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TRE_") and name.lower() not in proxies
    }
    environment.update(HOME=str(home), PYTHONPATH=str(CLI_ROOT))
    environment.update(overrides)
    return environment


@pytest.fixture
def workdir(tmp_path):
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


@pytest.fixture
def tre(home, workdir):
    """Run `tre ARGS...` with stdin a pipe (not a terminal); check it never shows a token
    nor a traceback, whatever happened."""

    def run(*args, stdin="", env=None):
        result = subprocess.run(
            [sys.executable, "-m", "tre_cli", *map(str, args)],
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_environment(home, env or {}),
            cwd=workdir,
            timeout=60,
        )
        for secret in (TOKEN, OTHER_TOKEN):
            assert secret not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result

    return run


@pytest.fixture
def signed_in(portal, config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text(json.dumps({"url": portal.url, "token": TOKEN}))
    config_file.chmod(0o600)
    return config_file


def error_line(result) -> str:
    """The one line an error leaves on stderr (the last, after any notices)."""
    assert result.stderr.endswith("\n")
    return result.stderr.splitlines()[-1]


def assert_one_line_error(result, exit_code: int, text: str) -> None:
    assert result.returncode == exit_code, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tre: ")
    assert text in result.stderr
    assert result.stdout == ""


# --- signing in -------------------------------------------------------------------------


def test_login_checks_the_token_and_saves_it_for_its_owner_only(tre, portal, config_file):
    result = tre("login", portal.url + "/", "--json", stdin=TOKEN + "\n")

    assert result.returncode == 0, result.stderr
    (asked,) = portal.asked("GET", "/api/v1/me")
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    assert asked.headers["user-agent"].startswith("tre-cli/")
    assert json.loads(config_file.read_text()) == {"url": portal.url, "token": TOKEN}
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    # What the token may do and until when, never the token (the fixture checks that).
    assert json.loads(result.stdout) == {
        "url": portal.url,
        "config": str(config_file),
        "username": "rae",
        "token": ME["token"],
    }


def test_login_saves_at_tre_config_when_set(tre, portal, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"

    result = tre("login", portal.url, "--token", TOKEN, env={"TRE_CONFIG": str(elsewhere)})

    assert result.returncode == 0, result.stderr
    assert "Signed in to" in result.stdout
    assert "as rae" in result.stdout
    assert json.loads(elsewhere.read_text())["token"] == TOKEN
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600


def test_login_with_a_refused_token_saves_nothing(tre, portal, config_file):
    expired = "This API token expired on 2026-12-01: make a new one in the portal."
    portal.on("GET", "/api/v1/me", refusal(401, expired))

    result = tre("login", portal.url, stdin=TOKEN)

    assert_one_line_error(result, 1, f"tre: the server says: {expired}")
    assert not config_file.exists()


def test_login_refuses_what_is_not_a_token_without_echoing_it(tre, portal, config_file):
    result = tre("login", portal.url, "--token", "correct-horse-battery")

    assert_one_line_error(result, 2, "not an API token")
    assert "correct-horse" not in result.stderr
    assert portal.received == []
    assert not config_file.exists()


def test_logout_forgets_the_token(tre, signed_in):
    result = tre("logout")

    assert result.returncode == 0
    assert not signed_in.exists()
    assert tre("workspaces").returncode == 2


def test_without_signing_in_commands_say_how(tre, portal):
    assert_one_line_error(tre("workspaces"), 2, "not signed in: run `tre login URL` first")


def test_environment_overrides_the_saved_address_and_token(tre, portal, config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text(json.dumps({"url": f"http://127.0.0.1:{closed_port()}", "token": TOKEN}))
    config_file.chmod(0o600)

    result = tre("workspaces", env={"TRE_URL": portal.url, "TRE_TOKEN": OTHER_TOKEN})

    assert result.returncode == 0, result.stderr
    (asked,) = portal.asked("GET", "/api/v1/workspaces")
    assert asked.headers["authorization"] == f"Bearer {OTHER_TOKEN}"


# --- errors and retries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (
            refusal(401, "This API token was revoked."),
            "tre: the server says: This API token was revoked.",
        ),
        (
            refusal(403, "This token's scope is read: submitting needs submit."),
            "tre: the server says: This token's scope is read: submitting needs submit.",
        ),
        (refusal(404, "Not found."), "tre: the server says: Not found."),
        (
            Reply(
                status=500,
                body=b"<h1>Server Error (500)</h1>",
                headers={"Content-Type": "text/html"},
            ),
            "tre: the portal failed (HTTP 500",
        ),
    ],
)
def test_a_refusal_is_one_line_and_exit_code_1(tre, portal, signed_in, reply, line):
    portal.on("GET", "/api/v1/workspaces", reply)

    result = tre("workspaces")

    assert_one_line_error(result, 1, line)


def test_an_answer_unlike_the_contracts_is_still_one_line(tre, portal, signed_in):
    portal.on("GET", "/api/v1/workspaces", Reply(json={"unexpected": "shape"}))

    assert_one_line_error(tre("workspaces"), 1, "tre: something unexpected went wrong")


def test_a_rate_limit_is_waited_out_as_the_portal_asks(tre, portal, signed_in):
    portal.on(
        "GET",
        "/api/v1/workspaces",
        refusal(
            429, "Too many requests with this token: try again in 1 s.", **{"Retry-After": "1"}
        ),
        Reply(json=[CARDIAC]),
    )

    result = tre("workspaces", "--json")

    assert result.returncode == 0, result.stderr
    assert "trying again in 1 s" in result.stderr
    assert len(portal.asked("GET", "/api/v1/workspaces")) == 2
    assert json.loads(result.stdout) == [CARDIAC]


def test_a_rate_limit_that_goes_on_ends_with_the_portals_reason(tre, portal, signed_in):
    detail = "Too many requests with this token: try again in 0 s."
    portal.on("GET", "/api/v1/workspaces", refusal(429, detail, **{"Retry-After": "0"}))

    result = tre("workspaces")

    assert result.returncode == 1
    assert error_line(result) == f"tre: the server says: {detail}"
    assert len(portal.asked("GET", "/api/v1/workspaces")) == 6  # the first, and 5 waits


def test_a_portal_that_is_not_there_is_exit_code_3(tre):
    url = f"http://127.0.0.1:{closed_port()}"

    result = tre("workspaces", env={"TRE_URL": url, "TRE_TOKEN": TOKEN})

    assert_one_line_error(result, 3, f"tre: cannot reach the portal at {url}")


def test_a_dropped_get_is_asked_again(tre, portal, signed_in):
    portal.on("GET", "/api/v1/workspaces", Reply(drop=True), Reply(json=[CARDIAC]))

    result = tre("workspaces")

    assert result.returncode == 0, result.stderr
    assert len(portal.asked("GET", "/api/v1/workspaces")) == 2


def test_a_dropped_post_is_not_sent_again(tre, portal, signed_in, workdir):
    (workdir / "analysis.py").write_text("print('hello')\n")
    portal.on("POST", JOBS, Reply(drop=True))

    result = tre("run", "analysis.py", "--dataset", "admissions", "--dry")

    assert_one_line_error(result, 3, "the request may have reached it")
    assert len(portal.asked("POST", JOBS)) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["run", "analysis.py", "--dataset", "admissions"],  # neither --dry nor --real
        ["run", "missing.py", "--dataset", "admissions", "--dry"],
        ["run", "analysis.py", "--dataset", "admissions@latest", "--dry"],
        ["status", "twelve"],
        ["release", "12", "--output", "by_ward"],  # no --why
        ["ask", "admissions", "count", "--by", "ward"],  # no --epsilon
        ["ask", "admissions", "count", "--epsilon", "a lot", "--yes"],
        ["ask", "admissions", "count", "--epsilon", "-1", "--yes"],
        ["answer", "seven"],
    ],
)
def test_usage_errors_are_one_line_and_exit_code_2(tre, portal, signed_in, workdir, args):
    (workdir / "analysis.py").write_text("print('hello')\n")

    assert_one_line_error(tre(*args), 2, "tre: ")
    assert portal.asked("POST", JOBS) == []


# --- workspaces, datasets and samples --------------------------------------------------------


def test_workspaces_as_json_are_the_portals_list(tre, portal, signed_in):
    portal.on("GET", "/api/v1/workspaces", Reply(json=[CARDIAC, ONCOLOGY]))

    result = tre("workspaces", "--json")

    assert json.loads(result.stdout) == [CARDIAC, ONCOLOGY]
    assert "oncology" in tre("workspaces").stdout


DATASETS = [
    {
        "name": "admissions",
        "description": "Hospital admissions",
        "versions": [
            {
                "number": 1,
                "status": "ready",
                "row_count": 60,
                "columns": [{"name": "ward", "kind": "categorical"}],
                "sample_ready": True,
            }
        ],
    }
]


def test_datasets_of_the_only_workspace(tre, portal, signed_in):
    portal.on("GET", "/api/v1/workspaces/cardiac/datasets", Reply(json=DATASETS))

    result = tre("datasets")

    assert result.returncode == 0, result.stderr
    assert "admissions — Hospital admissions" in result.stdout
    assert "version 1: ready, 60 rows, 1 columns, sample ready" in result.stdout
    assert json.loads(tre("datasets", "--json").stdout) == DATASETS


def test_datasets_in_several_workspaces_need_one_chosen(tre, portal, signed_in):
    portal.on("GET", "/api/v1/workspaces", Reply(json=[CARDIAC, ONCOLOGY]))
    portal.on("GET", "/api/v1/workspaces/oncology/datasets", Reply(json=[]))
    portal.on("GET", "/api/v1/workspaces/cardiac/datasets", Reply(json=DATASETS))

    assert_one_line_error(tre("datasets"), 2, "2 workspaces (cardiac, oncology)")
    assert tre("datasets", "--workspace", "oncology").returncode == 0
    chosen_by_environment = tre("datasets", "--json", env={"TRE_WORKSPACE": "cardiac"})
    assert json.loads(chosen_by_environment.stdout) == DATASETS


SAMPLE_CSV = b"ward,age\nA,40\nB,51\n"
SAMPLE_PATH = "/api/v1/workspaces/cardiac/datasets/admissions/sample.csv"


def test_a_sample_is_saved_once_its_checksum_matches(tre, portal, signed_in, workdir):
    portal.on("GET", SAMPLE_PATH, file_reply(SAMPLE_CSV))

    result = tre("sample", "admissions", "-o", "sample.csv", "--version", "1", "--json")

    assert result.returncode == 0, result.stderr
    assert (workdir / "sample.csv").read_bytes() == SAMPLE_CSV
    assert portal.asked("GET", SAMPLE_PATH)[0].query == {"version": "1"}
    assert json.loads(result.stdout) == {
        "dataset": "admissions",
        "version": 1,
        "path": "sample.csv",
        "sha256": hashlib.sha256(SAMPLE_CSV).hexdigest(),
        "size_bytes": len(SAMPLE_CSV),
    }


def test_a_sample_goes_to_dataset_csv_by_default(tre, portal, signed_in, workdir):
    portal.on("GET", SAMPLE_PATH, file_reply(SAMPLE_CSV))

    assert tre("sample", "admissions").returncode == 0
    assert (workdir / "admissions.csv").read_bytes() == SAMPLE_CSV
    assert portal.asked("GET", SAMPLE_PATH)[0].query == {}


def test_a_corrupted_sample_is_not_saved(tre, portal, signed_in, workdir):
    portal.on("GET", SAMPLE_PATH, file_reply(SAMPLE_CSV, checksum="ab" * 32))

    result = tre("sample", "admissions", "-o", "sample.csv")

    assert_one_line_error(result, 3, "was corrupted")
    assert list(workdir.iterdir()) == []  # neither the file nor its temporary


def test_a_sample_does_not_replace_a_file_unless_forced(tre, portal, signed_in, workdir):
    portal.on("GET", SAMPLE_PATH, file_reply(SAMPLE_CSV))
    (workdir / "sample.csv").write_text("mine")

    assert_one_line_error(tre("sample", "admissions", "-o", "sample.csv"), 2, "--force")
    assert (workdir / "sample.csv").read_text() == "mine"
    assert tre("sample", "admissions", "-o", "sample.csv", "--force").returncode == 0
    assert (workdir / "sample.csv").read_bytes() == SAMPLE_CSV


# --- running jobs ----------------------------------------------------------------------


BY_WARD = b"ward,count\nA,12\n"


def test_a_dry_run_is_followed_by_fingerprint_then_its_outputs_saved(
    tre, portal, signed_in, workdir
):
    (workdir / "analysis.py").write_text("print('counted')\n")
    portal.on("POST", JOBS, Reply(status=201, json=job()))
    running = job(state="running", state_label="Running", fingerprint="f-running")
    finished = job(
        state="finished",
        state_label="Finished",
        has_ended=True,
        fingerprint="f-finished",
        log="counted\n",
        outputs=[output(5, "by_ward", sha256=hashlib.sha256(BY_WARD).hexdigest())],
    )
    # The portal answers after 30 s with nothing new too: the client asks again alike.
    portal.on(
        "GET", f"{JOBS}/12/wait", Reply(json=running), Reply(json=running), Reply(json=finished)
    )
    portal.on("GET", f"{JOBS}/12/outputs/5", file_reply(BY_WARD, filename="by_ward.csv"))

    result = tre(
        "run", "analysis.py", "--dataset", "admissions", "--dataset", "referrals@2",
        "--dry", "--title", "Counts", "--wait",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    (submitted,) = portal.asked("POST", JOBS)
    assert submitted.body == {
        "script": "print('counted')\n",
        "datasets": ["admissions", "referrals@2"],
        "mode": "dry_run",
        "title": "Counts",
    }
    shown = [asked.query["shown"] for asked in portal.asked("GET", f"{JOBS}/12/wait")]
    assert shown == ["f-queued", "f-running", "f-running"]
    assert "job 12: Queued\njob 12: Running\njob 12: Finished\n" in result.stderr
    assert result.stdout.startswith("counted\n")
    assert (workdir / "tre-job-12" / "by_ward.csv").read_bytes() == BY_WARD


def test_a_dry_run_as_json_is_the_job_and_what_was_saved(tre, portal, signed_in, workdir):
    (workdir / "analysis.py").write_text("print('counted')\n")
    digest = hashlib.sha256(BY_WARD).hexdigest()
    finished = job(
        state="finished",
        state_label="Finished",
        has_ended=True,
        fingerprint="f-finished",
        log="counted\n",
        outputs=[output(5, "by_ward", sha256=digest)],
    )
    portal.on("POST", JOBS, Reply(status=201, json=job()))
    portal.on("GET", f"{JOBS}/12/wait", Reply(json=finished))
    portal.on("GET", f"{JOBS}/12/outputs/5", file_reply(BY_WARD, filename="by_ward.csv"))

    result = tre(
        "run", "analysis.py", "--dataset", "admissions", "--dry", "--wait", "-o", "out", "--json"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        **finished,
        "saved": [
            {
                "id": 5,
                "name": "by_ward",
                "path": str(Path("out") / "by_ward.csv"),
                "sha256": digest,
                "size_bytes": len(BY_WARD),
            }
        ],
    }


def test_a_corrupted_output_of_a_dry_run_is_not_saved(tre, portal, signed_in, workdir):
    (workdir / "analysis.py").write_text("print('counted')\n")
    finished = job(
        state="finished", state_label="Finished", has_ended=True, outputs=[output(5, "by_ward")]
    )
    portal.on("POST", JOBS, Reply(status=201, json=finished))
    portal.on("GET", f"{JOBS}/12/outputs/5", file_reply(BY_WARD[:-3], checksum="0" * 64))

    result = tre("run", "analysis.py", "--dataset", "admissions", "--dry", "--wait")

    assert result.returncode == 3
    assert "was corrupted" in error_line(result)
    assert list((workdir / "tre-job-12").iterdir()) == []


def test_a_real_run_that_failed_shows_its_state_and_verdicts_and_exits_4(
    tre, portal, signed_in, workdir
):
    (workdir / "analysis.py").write_text("raise ValueError\n")
    in_progress = job(id=13, mode="real", state="in_progress", state_label="In progress")
    failed = job(
        id=13,
        mode="real",
        state="failed",
        state_label="Failed",
        has_ended=True,
        failure_type="ValueError",
        failure_line=1,
        fingerprint="f-failed",
        runtime="under 1 s",
        outputs=[
            output(
                7,
                "output 1",
                verdict={"status": "review", "rules": ["small-cells"]},
                released=False,
            ),
        ],
    )
    portal.on("POST", JOBS, Reply(status=201, json=in_progress))
    portal.on("GET", f"{JOBS}/13/wait", Reply(json=failed))

    result = tre("run", "analysis.py", "--dataset", "admissions", "--real", "--wait")

    assert result.returncode == 4
    assert "Job 13 (real run): Failed: ValueError at line 1" in result.stdout
    assert "output 1 (table, frequency), 12 bytes; checks: review (small-cells)" in result.stdout
    assert error_line(result) == "tre: job 13 ended without finishing: Failed: ValueError at line 1"
    assert portal.asked("POST", JOBS)[0].body["mode"] == "real"
    # Nothing of a real run is downloaded before its release.
    assert not [asked for asked in portal.received if "/outputs/" in asked.path]
    assert not (workdir / "tre-job-13").exists()
    as_json = tre("run", "analysis.py", "--dataset", "admissions", "--real", "--wait", "--json")
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout) == {**failed, "saved": []}


def test_ctrl_c_stops_the_waiting_not_the_job(portal, signed_in, home, workdir):
    (workdir / "analysis.py").write_text("print('slow')\n")
    waiting = threading.Event()

    def hold_the_long_poll(received):
        waiting.set()
        portal.closing.wait(20)
        return Reply(json=job())

    portal.on("POST", JOBS, Reply(status=201, json=job()))
    portal.on("GET", f"{JOBS}/12/wait", hold_the_long_poll)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tre_cli",
            "run",
            "analysis.py",
            "--dataset",
            "a",
            "--dry",
            "--wait",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_environment(home, {}),
        cwd=workdir,
    )
    try:
        assert waiting.wait(20)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
        assert stdout == ""
    finally:
        process.kill()

    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        "tre: stopped waiting; job 12 goes on. Follow it with: tre status 12 --wait"
    )
    assert [asked.method for asked in portal.received] == ["GET", "POST", "GET"]


def test_status_follows_a_job_and_jobs_lists_them(tre, portal, signed_in):
    finished = job(state="finished", state_label="Finished", has_ended=True, log="hi\n")
    portal.on("GET", f"{JOBS}/12", Reply(json=job()))
    portal.on("GET", f"{JOBS}/12/wait", Reply(json=finished))
    summary = {key: job()[key] for key in ("id", "mode", "state", "state_label", "has_ended")}
    summary |= {"title": "Counts", "submitted_by": "rae", "submitted_at": "2026-01-05T10:00Z"}
    portal.on("GET", JOBS, Reply(json=[summary]))

    followed = tre("status", "12", "--wait", "--json")
    listed = tre("jobs", "--limit", "5")

    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout) == finished
    assert "job 12: Finished" in followed.stderr
    assert portal.asked("GET", JOBS)[0].query == {"limit": "5"}
    heading, row = listed.stdout.splitlines()
    assert heading.split() == ["ID", "MODE", "STATE", "SUBMITTED", "BY", "TITLE"]
    assert row.split() == ["12", "dry", "run", "Queued", "2026-01-05T10:00Z", "rae", "Counts"]


def test_status_of_a_job_that_timed_out_exits_4(tre, portal, signed_in):
    timed_out = job(state="timed_out", state_label="Timed out", has_ended=True)
    portal.on("GET", f"{JOBS}/12", Reply(json=timed_out))

    result = tre("status", "12")

    assert result.returncode == 4
    assert "Job 12 (dry run): Timed out" in result.stdout
    assert error_line(result) == "tre: job 12 ended without finishing: Timed out"


# --- releases and downloads -------------------------------------------------------------


def test_release_creates_and_submits_a_request(tre, portal, signed_in):
    created = {
        "id": 3,
        "job": 42,
        "status": "submitted",
        "status_label": "Submitted",
        "items": [
            {"output": "by_ward", "state": "pending"},
            {"output": "output 2", "state": "pending"},
        ],
    }
    portal.on("POST", f"{JOBS}/42/release", Reply(status=201, json=created))

    result = tre("release", "42", "--output", "by_ward", "--output", "7", "--why", "Table 1")

    assert result.returncode == 0, result.stderr
    assert portal.asked("POST", f"{JOBS}/42/release")[0].body == {
        "outputs": ["by_ward", 7],
        "justification": "Table 1",
    }
    assert result.stdout.splitlines()[0] == "Release request 3 for job 42: Submitted"
    as_json = tre("release", "42", "--output", "by_ward", "--why", "Table 1", "--json")
    assert json.loads(as_json.stdout) == created


def test_download_saves_released_outputs_only_and_replaces_nothing_unforced(
    tre, portal, signed_in, workdir
):
    real_run = job(
        id=42,
        mode="real",
        state="finished",
        state_label="Finished",
        has_ended=True,
        outputs=[
            output(5, "by_ward", verdict={"status": "pass", "rules": []}, released=True),
            output(6, "output 2", verdict={"status": "review", "rules": []}, released=False),
        ],
    )
    portal.on("GET", f"{JOBS}/42", Reply(json=real_run))
    portal.on("GET", f"{JOBS}/42/outputs/5", file_reply(BY_WARD, filename="by_ward.csv"))

    first = tre("download", "42", "--json")
    again = tre("download", "42")
    forced = tre("download", "42", "--force")

    assert first.returncode == 0, first.stderr
    assert (workdir / "tre-job-42" / "by_ward.csv").read_bytes() == BY_WARD
    assert [saved["id"] for saved in json.loads(first.stdout)] == [5]
    assert portal.asked("GET", f"{JOBS}/42/outputs/6") == []
    assert_one_line_error(again, 2, "by_ward.csv exists: add --force to replace it")
    assert forced.returncode == 0, forced.stderr
    assert len(portal.asked("GET", f"{JOBS}/42/outputs/5")) == 3


def test_a_file_name_from_the_portal_cannot_leave_the_directory(tre, portal, signed_in, workdir):
    portal.on("GET", f"{JOBS}/12", Reply(json=job(has_ended=True, outputs=[output(5, "x")])))
    portal.on("GET", f"{JOBS}/12/outputs/5", file_reply(BY_WARD, filename="../../.bashrc"))

    result = tre("download", "12", "-o", "out")

    assert result.returncode == 0, result.stderr
    assert [path.name for path in (workdir / "out").iterdir()] == ["bashrc"]
    assert not (workdir / ".bashrc").exists()


# --- questions with differential privacy ----------------------------------------------------


PRIVACY = "/api/v1/workspaces/cardiac/datasets/admissions/privacy"
QUESTION = "/api/v1/workspaces/cardiac/questions/7"
COUNT_STATEMENT = "Each count is within ±7 of the true count, 95 times in 100."
ACCURACY = {
    "alpha": 0.05,
    "half_width": 6.43,
    "statement": COUNT_STATEMENT,
    "mechanism": "discrete Laplace (OpenDP make_count_by_categories + then_laplace)",
}
PREVIEW = {"accuracy": ACCURACY, "epsilon": "0.5", "left_for_you": "4.5", "would_overspend": False}
OVERSPENT = (
    "This needs ε 0.5, and ε 0.25 is left of admissions v1's budget of ε 5. Nothing was spent."
)


def question(**changes) -> dict:
    """A question as the contract shows it, being answered."""
    return {
        "id": 7,
        "dataset": "admissions",
        "version": 1,
        "question": "count by ward",
        "statistic": "count",
        "column": "",
        "by": ["ward"],
        "quantile": None,
        "epsilon": "0.5",
        "delta": "0",
        "mechanism": ACCURACY["mechanism"],
        "status": "spent",
        "status_label": "Spent, being answered",
        "reason": "",
        "job": None,
        "asked_by": "rae",
        "asked_at": "2026-01-05T10:00:00Z",
        "answered_at": None,
        "accuracy": ACCURACY,
        "epsilon_used": None,
        "answer": None,
        "released_by": None,
        **changes,
    }


ANSWERED = question(
    status="answered",
    status_label="Answered",
    answered_at="2026-01-05T10:00:01Z",
    epsilon_used=0.5,
    answer={
        "columns": ["ward", "count"],
        "rows": [["cardiology", 14], ["oncology", -1], ["(other)", 2]],
    },
    released_by="differential privacy",
)


@pytest.fixture
def privacy_portal(portal):
    portal.on("GET", PRIVACY + "/accuracy", Reply(json=PREVIEW))
    portal.on("POST", PRIVACY + "/questions", Reply(status=201, json=question()))
    portal.on("GET", QUESTION + "/wait", Reply(json=ANSWERED))
    return portal


def test_ask_shows_the_accuracy_and_spends_nothing_off_a_terminal_without_yes(
    tre, privacy_portal, signed_in
):
    result = tre("ask", "admissions", "count", "--by", "ward", "--epsilon", "0.5", "--wait")

    assert result.returncode == 2
    assert result.stdout == ""
    preview, refusal_line = result.stderr.splitlines()
    assert preview == f"tre: {COUNT_STATEMENT} This spends ε 0.5 of the ε 4.5 left for you."
    assert refusal_line == (
        "tre: not asked: spending ε 0.5 needs --yes when stdin is not a terminal"
    )
    (previewed,) = privacy_portal.asked("GET", PRIVACY + "/accuracy")
    assert previewed.query == {"statistic": "count", "by": "ward", "epsilon": "0.5"}
    assert privacy_portal.asked("POST", PRIVACY + "/questions") == []


def test_ask_with_yes_and_wait_prints_the_answer_as_a_table(tre, privacy_portal, signed_in):
    result = tre(
        "ask", "admissions", "mean", "length_of_stay", "--by", "ward", "--by", "readmitted",
        "--epsilon", "0.5", "--version", "1", "--yes", "--wait",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    (previewed,) = privacy_portal.asked("GET", PRIVACY + "/accuracy")
    assert previewed.raw_query == (
        "statistic=mean&column=length_of_stay&by=ward&by=readmitted&epsilon=0.5&version=1"
    )
    (asked,) = privacy_portal.asked("POST", PRIVACY + "/questions")
    assert asked.body == {
        "statistic": "mean",
        "column": "length_of_stay",
        "by": ["ward", "readmitted"],
        "epsilon": "0.5",
        "version": 1,
    }
    lines = result.stdout.splitlines()
    assert lines[0] == "Question 7: count by ward of admissions v1: Answered"
    assert lines[1] == "Released by differential privacy:"
    assert [line.split() for line in lines[2:6]] == [
        ["ward", "count"],
        ["cardiology", "14"],
        ["oncology", "-1"],
        ["(other)", "2"],
    ]
    assert f"Accuracy: {COUNT_STATEMENT}" in lines
    assert "ε 0.5 spent (OpenDP's privacy map: 0.5)" in result.stdout
    assert "tre: asked question 7 (ε 0.5 spent): waiting" in result.stderr


def test_ask_as_json_prints_the_answered_question(tre, privacy_portal, signed_in):
    result = tre("ask", "admissions", "count", "--by", "ward", "--epsilon", "0.5", "--yes",
                 "--wait", "--json")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ANSWERED


def test_ask_without_wait_says_how_to_see_the_answer(tre, privacy_portal, signed_in):
    result = tre("ask", "admissions", "count", "--epsilon", "0.5", "--yes", "-w", "cardiac")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Asked question 7: count by ward of admissions v1, ε 0.5 spent; Spent, being answered.",
        "See its answer with: tre answer 7 --workspace cardiac --wait",
    ]
    assert privacy_portal.asked("GET", QUESTION + "/wait") == []


def test_an_over_budget_question_is_one_line_and_exit_code_1(tre, privacy_portal, signed_in):
    privacy_portal.on("POST", PRIVACY + "/questions", refusal(400, OVERSPENT))

    result = tre("ask", "admissions", "count", "--epsilon", "0.5", "--yes", "--wait")

    assert result.returncode == 1
    assert result.stdout == ""
    assert error_line(result) == f"tre: the server says: {OVERSPENT}"
    assert privacy_portal.asked("GET", QUESTION + "/wait") == []


def test_a_question_the_preview_says_would_overspend_is_not_asked(tre, privacy_portal, signed_in):
    privacy_portal.on(
        "GET",
        PRIVACY + "/accuracy",
        Reply(json={**PREVIEW, "epsilon": "5", "left_for_you": "4.5", "would_overspend": True}),
    )

    result = tre("ask", "admissions", "count", "--epsilon", "5", "--yes")

    assert result.returncode == 1
    assert error_line(result) == (
        "tre: this needs ε 5, and ε 4.5 is left for you of the privacy budget of admissions: "
        "nothing was asked, nothing spent"
    )
    assert privacy_portal.asked("POST", PRIVACY + "/questions") == []


def ask_at_a_terminal(home, workdir, typed: str):
    """`tre ask` with stdin a terminal (a pseudo-terminal), answering its question."""
    import pty

    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tre_cli", "ask", "admissions", "count", "--epsilon", "0.5"],
            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=cli_environment(home, {}), cwd=workdir,
        )  # fmt: skip
        os.write(controller, typed.encode())
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    return process.returncode, stdout, stderr


@pytest.mark.parametrize(("typed", "exit_code", "posts"), [("y\n", 0, 1), ("\n", 1, 0)])
def test_at_a_terminal_ask_spends_only_once_the_person_agrees(
    privacy_portal, signed_in, home, workdir, typed, exit_code, posts
):
    exit_code_seen, stdout, stderr = ask_at_a_terminal(home, workdir, typed)

    assert exit_code_seen == exit_code, stderr
    assert "Spend ε 0.5 on this question? [y/N] " in stderr
    assert len(privacy_portal.asked("POST", PRIVACY + "/questions")) == posts
    if not posts:
        assert stderr.splitlines()[-1].endswith("tre: nothing asked, nothing spent")
        assert stdout == ""


def test_answer_of_a_question_not_answered_exits_4(tre, portal, signed_in):
    refunded = question(
        status="refunded",
        status_label="Not answered: nothing spent",
        reason="The platform could not answer this question. Nothing was spent.",
    )
    portal.on("GET", QUESTION, Reply(json=refunded))

    result = tre("answer", "7")

    assert result.returncode == 4
    assert "Question 7: count by ward of admissions v1: Not answered: nothing spent" in (
        result.stdout
    )
    assert error_line(result) == (
        "tre: question 7 was not answered: The platform could not answer this question. "
        "Nothing was spent."
    )


BUDGET = {
    "dataset": "admissions",
    "version": 1,
    "epsilon": "5",
    "delta": "0",
    "spent": "0.5",
    "left": "4.5",
    "share": "1",
    "left_for_you": "0.5",
    "rows_per_person": 1,
    "columns": {
        "age": {"kind": "numeric", "lower": 0.0, "upper": 120.0, "bins": 12},
        "ward": {"kind": "categorical", "categories": ["cardiology", "oncology"]},
    },
    "questions": [
        {
            "id": 7,
            "question": "count by ward",
            "statistic": "count",
            "job": None,
            "asked_by": "rae",
            "mechanism": ACCURACY["mechanism"],
            "epsilon": "0.5",
            "delta": "0",
            "status": "answered",
            "status_label": "Answered",
            "asked_at": "2026-01-05T10:00:00Z",
        }
    ],
}


def test_budget_shows_what_is_left_the_columns_and_every_spend(tre, portal, signed_in):
    portal.on("GET", PRIVACY, Reply(json=BUDGET))

    result = tre("budget", "admissions", "--version", "1")
    as_json = tre("budget", "admissions", "--json")

    assert result.returncode == 0, result.stderr
    assert portal.asked("GET", PRIVACY)[0].query == {"version": "1"}
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "admissions v1: privacy budget ε 5",
        "  spent ε 0.5, left ε 4.5; left for you ε 0.5 (your share: ε 1)",
        "  δ 0; at most 1 row per person",
    ]
    assert "  age   numbers from 0 to 120 (values beyond are clamped), 12 bins" in lines
    assert '  ward  categories: cardiology, oncology (anything else counts as "(other)")' in lines
    heading, row = lines[-2:]
    assert heading.split() == ["ID", "QUESTION", "BY", "ε", "STATUS", "ASKED"]
    assert row.split() == ["7", "count", "by", "ward", "rae", "0.5", "Answered",
                           "2026-01-05T10:00:00Z"]  # fmt: skip
    assert json.loads(as_json.stdout) == BUDGET


def test_budget_of_a_version_without_one_is_the_portals_one_line(tre, portal, signed_in):
    detail = "admissions v1 has no privacy budget: a data steward sets one."
    portal.on("GET", PRIVACY, refusal(404, detail))

    assert_one_line_error(tre("budget", "admissions"), 1, f"tre: the server says: {detail}")
