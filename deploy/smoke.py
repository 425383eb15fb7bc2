"""The compose stack's smoke test: build it, start it, and take a study through it over
HTTP as its people would.

    python3 deploy/smoke.py          # from the repository's root or anywhere
    python3 deploy/smoke.py --keep   # leave the stack running afterwards

It makes the Debian base image from Debian's packages if it is missing
(deploy/base-image), builds every image of docker-compose.yml, starts the stack as a
compose project of its own (`tre-smoke`, on a free port of 127.0.0.1, with secrets made
for this run), waits until web and the workers report healthy, and then, through the
portal's pages only: a data steward uploads a dataset and decides its columns; a
researcher dry-runs a script on the synthetic sample, runs it on the real data and
requests the release of its table; two output checkers approve it and one releases it;
the researcher downloads it and checks its SHA-256. Last, the audit trail's chain is
verified. Then the project is removed with its volumes (`down -v`).

The stack runs with its production settings unchanged: secure cookies, the redirect of
plain http to https, HSTS. This script stands where the TLS-terminating proxy of
docs/deployment.md would: it talks plain HTTP to the published port and sends
`X-Forwarded-Proto: https`, as that proxy must, and keeps the cookies a browser would
keep over HTTPS. It checks that plain http without the header is still redirected.

The people and their second factors (an authenticator app, with a secret made here)
are created with `manage.py shell` inside the web container, the way an admin's script
would; everything after that goes through HTTP. Standard library only (the codes are
computed as RFC 6238 says), so it runs on any host with Docker and python3, without the
project's virtual environment. No password, key or code is ever printed.

If this host has /etc/pip.conf (a PyPI mirror, or a TLS-inspecting proxy with its own
CA), it and the host's CA bundle are put in deploy/pip/ for the build and removed
after it; the Dockerfile uses them in its first stage only.
"""

# It runs docker, docker compose and deploy/base-image by design, found on PATH.
# ruff: noqa: S603, S607

import argparse
import base64
import hashlib
import hmac
import html
import http.client
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "tre-smoke"
BASE_IMAGE = os.environ.get("TRE_BASE_IMAGE", "tre-base:bookworm")
WORKSPACE = "smoke"
DATASET = "admissions"
SCRIPT = """import tre_sdk

admissions = tre_sdk.load_dataset("admissions")
table = tre_sdk.crosstab(admissions, "ward")
tre_sdk.save_table("by_ward", tre_sdk.suppress_small_cells(table), description="per ward")
"""
HEALTH_TIMEOUT = 300
JOB_TIMEOUT = 300


class SmokeFailure(Exception):
    pass


def say(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def check(condition, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


# --- Docker and compose --------------------------------------------------------------


def compose_command() -> list[str]:
    """Docker Compose v2: the `docker compose` plugin, or a `docker-compose` of v2. Not
    v1, which cannot unmask /proc for the workers (systempaths=unconfined)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        found = subprocess.run([*command, "version", "--short"], capture_output=True, text=True)
        major = found.stdout.strip().lstrip("v").split(".")[0]
        if found.returncode == 0 and major.isdigit() and int(major) >= 2:
            return command
    raise SmokeFailure("Docker Compose v2 is needed (`docker compose version`)")


class Stack:
    """The compose project under test, with its own secrets and port."""

    def __init__(self, port: int):
        self.port = port
        self.compose = compose_command()
        self.command = [
            *self.compose,
            "--project-name", PROJECT,
            "--project-directory", str(ROOT),
            "--file", str(ROOT / "docker-compose.yml"),
        ]  # fmt: skip
        # Every variable docker-compose.yml reads, so no .env or shell setting leaks in.
        self.env = {
            **os.environ,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "POSTGRES_PASSWORD": secrets.token_urlsafe(32),
            "TRE_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "TRE_AUDIT_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "",
            "TRE_SECURE_COOKIES": "true",
            "TRE_SSL_REDIRECT": "true",
            "TRE_HSTS_SECONDS": "31536000",
            "TRE_TRUSTED_PROXY_COUNT": "",
            "TRE_BASE_IMAGE": BASE_IMAGE,
            "TRE_WEB_PUBLISH": f"127.0.0.1:{port}",
        }

    def run(self, *args, capture=False, stdin=None, check_status=True):
        result = subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=ROOT,
            input=stdin,
            capture_output=capture,
            text=True,
        )
        if check_status and result.returncode != 0:
            detail = (result.stderr or "").strip()[-2000:] if capture else ""
            raise SmokeFailure(f"`compose {' '.join(args[:3])}` failed: {detail}")
        return result

    def container(self, service: str) -> str:
        ids = self.run("ps", "-q", service, capture=True).stdout.split()
        check(ids, f"no container for {service}")
        return ids[0]

    def health(self, service: str) -> str:
        state = subprocess.run(
            ["docker", "inspect", "--format",
             "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
             self.container(service)],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        return state[-1] if state else "missing"

    def wait_healthy(self, services) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while True:
            states = {service: self.health(service) for service in services}
            if all(state == "healthy" for state in states.values()):
                return
            if any(state in {"unhealthy", "exited", "dead"} for state in states.values()):
                raise SmokeFailure(f"a service failed to start: {states}")
            if time.monotonic() > deadline:
                raise SmokeFailure(f"not healthy after {HEALTH_TIMEOUT} s: {states}")
            time.sleep(3)

    def manage(self, *args, stdin=None) -> str:
        return self.run("exec", "-T", "web", "python", "manage.py", *args,
                        capture=True, stdin=stdin).stdout  # fmt: skip

    def show_logs(self) -> None:
        self.run("ps", check_status=False)
        self.run("logs", "--tail", "40", check_status=False)


def ensure_base_image() -> float | None:
    """Make the base image from Debian's packages unless it exists; seconds it took."""
    found = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    if found.returncode == 0:
        say(f"base image {BASE_IMAGE} exists")
        return None
    say(f"making the base image {BASE_IMAGE} from Debian's packages (deploy/base-image)")
    started = time.monotonic()
    subprocess.run([str(ROOT / "deploy" / "base-image"), BASE_IMAGE], check=True)
    return time.monotonic() - started


def host_pip_settings() -> list[Path]:
    """This host's pip.conf and CA bundle in deploy/pip/ for the build, if it has a
    pip.conf and they are not there yet; returns the files placed, to remove after."""
    placed = []
    for source, name in (
        (Path("/etc/pip.conf"), "pip.conf"),
        (Path("/etc/ssl/certs/ca-certificates.crt"), "ca-certificates.crt"),
    ):
        target = ROOT / "deploy" / "pip" / name
        if Path("/etc/pip.conf").exists() and source.exists() and not target.exists():
            shutil.copyfile(source, target)
            placed.append(target)
    if placed:
        say("the build uses this host's pip.conf and CA bundle (deploy/pip/, removed after)")
    return placed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- A browser, as far as the portal's pages need one ---------------------------------


def totp(secret: str, at: float) -> str:
    """The 6-digit code an authenticator app shows at `at` (RFC 6238: SHA-1, 30 s)."""
    key = base64.b32decode(secret)
    digest = hmac.new(key, (int(at) // 30).to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(int.from_bytes(digest[offset : offset + 4], 'big') & 0x7FFFFFFF) % 10**6:06d}"


class Response:
    def __init__(self, path: str, status: int, headers, body: bytes):
        self.path = path
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class FormReader(HTMLParser):
    """Each form's action, test id and the values it would submit as the page shows it:
    inputs, checked boxes, and each select's selected option (else its first)."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._select = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": attrs.get("action") or "",
                    "testid": attrs.get("data-testid"),
                    "fields": {},
                    "boxes": {},
                }
            )
        elif not self.forms:
            return
        elif tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in {"checkbox", "radio"}:
                self.forms[-1]["boxes"].setdefault(attrs["name"], []).append(attrs.get("value"))
                if "checked" in attrs:
                    self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "on")
            elif kind not in {"submit", "file"}:
                self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select:
            fields = self.forms[-1]["fields"]
            if self._select not in fields or "selected" in attrs:
                fields[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def form(page: Response, *, action: str | None = None, testid: str | None = None) -> dict:
    """The page's first form whose action ends with `action`, or with this test id."""
    reader = FormReader()
    reader.feed(page.text)
    for found in reader.forms:
        found["action"] = html.unescape(found["action"]) or page.path
        if (action and found["action"].endswith(action)) or (testid and found["testid"] == testid):
            return found
    raise SmokeFailure(f"no form {action or testid!r} on {page.path}")


def testid_text(page: Response, testid: str) -> str:
    match = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>([^<]*)<', page.text)
    return html.unescape(match.group(1)).strip() if match else ""


class Browser:
    """One person's browser behind the TLS proxy: cookies kept as over HTTPS, every
    request marked `X-Forwarded-Proto: https`, `Origin` on posts, no redirect followed
    unasked."""

    def __init__(self, port: int, name: str):
        self.port = port
        self.name = name
        self.cookies: dict[str, str] = {}
        self.secure_cookies: dict[str, bool] = {}

    def request(self, method, path, fields=None, files=None, *, https=True) -> Response:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if https:
            headers["X-Forwarded-Proto"] = "https"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if method == "POST":
            headers["Origin"] = f"https://127.0.0.1:{self.port}"
            if files:
                boundary = uuid.uuid4().hex
                body = multipart(fields or {}, files, boundary)
                headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            else:
                body = urllib.parse.urlencode(fields or {}, doseq=True).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            response = Response(path, raw.status, raw.headers, raw.read())
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
                    self.secure_cookies[key] = bool(morsel["secure"])
        return response

    def get(self, path, **kwargs) -> Response:
        response = self.request("GET", path, **kwargs)
        check(response.status == 200, f"{self.name}: GET {path} answered {response.status}")
        return response

    def post(self, path, fields, files=None, *, expect=302) -> Response:
        response = self.request("POST", path, fields, files)
        check(
            response.status == expect,
            f"{self.name}: POST {path} answered {response.status}, not {expect}",
        )
        return response

    def submit(self, page, *, action=None, testid=None, extra=None, files=None) -> Response:
        """Post a form of `page` with its values as shown, changed by `extra`."""
        found = form(page, action=action, testid=testid)
        return self.post(found["action"], {**found["fields"], **(extra or {})}, files)


def multipart(fields: dict, files: dict, boundary: str) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            .encode()
        )  # fmt: skip
    for name, (filename, content, content_type) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


class Person:
    def __init__(self, username, roles, steward=False):
        self.username = username
        self.roles = roles
        self.steward = steward
        self.password = secrets.token_urlsafe(18)
        self.totp_secret = base64.b32encode(secrets.token_bytes(20)).decode()
        self.spent: set[str] = set()
        self.browser = None

    def fresh_code(self) -> str:
        """A code the app shows now or 30 s away (the portal accepts those) that was not
        spent yet: the portal refuses a code used twice."""
        while True:
            for offset in (0, -30, 30):
                code = totp(self.totp_secret, time.time() + offset)
                if code not in self.spent:
                    self.spent.add(code)
                    return code
            time.sleep(1)

    def sign_in(self, port: int) -> Browser:
        """Password, then the second factor, through the sign-in pages."""
        browser = Browser(port, self.username)
        page = browser.get("/accounts/login/")
        response = browser.submit(
            page,
            action="/accounts/login/",
            extra={"login": self.username, "password": self.password},
        )
        check(
            response.location.startswith("/accounts/2fa/authenticate/"),
            f"{self.username}: the password step led to {response.location!r}",
        )
        page = browser.get("/accounts/2fa/authenticate/")
        response = browser.submit(
            page, action="/accounts/2fa/authenticate/", extra={"code": self.fresh_code()}
        )
        check(
            not response.location.startswith("/accounts/"),
            f"{self.username}: the code step led to {response.location!r}",
        )
        check(
            browser.secure_cookies.get("sessionid"),
            "the session cookie is not marked Secure",
        )
        self.browser = browser
        return browser


def create_people(stack: Stack, people: list[Person]) -> None:
    """The workspace and its people, with their authenticator apps, as an admin's script
    would make them (through the services, inside the web container)."""
    spec = json.dumps(
        {
            "workspace": WORKSPACE,
            "people": [
                {
                    "username": person.username,
                    "password": person.password,
                    "totp_secret": person.totp_secret,
                    "roles": person.roles,
                    "steward": person.steward,
                }
                for person in people
            ],
        }
    )
    # On standard input, not the command line: no secret shows in a process list.
    script = f"""
import json
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import get_user_model
from tre.permissions import steward_group
from workspaces import services

spec = json.loads({spec!r})
User = get_user_model()
admin = User.objects.create_superuser("smoke-admin", "smoke-admin@example.org", None)
workspace = services.create_workspace(by=admin, name="Smoke test", slug=spec["workspace"])
for person in spec["people"]:
    user = User.objects.create_user(
        person["username"], person["username"] + "@example.org", person["password"]
    )
    if person["steward"]:
        user.is_staff = True
        user.save()
        user.groups.add(steward_group())
    TOTP.activate(user, person["totp_secret"])
    RecoveryCodes.activate(user)
    services.add_member(workspace=workspace, user=user, roles=person["roles"], by=admin)
print("people ready")
"""
    output = stack.manage("shell", stdin=script)
    check("people ready" in output, "making the people failed")


def admissions_csv(rows: int) -> bytes:
    """The project's made-up admissions table (tre/demo.py: plain Python, no Django)."""
    spec = importlib.util.spec_from_file_location("tre_demo", ROOT / "tre" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo.admissions_csv(rows=rows).encode()


def wait_for(what: str, poll, timeout=JOB_TIMEOUT) -> str:
    """Poll until `poll()` returns a truthy state; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = poll()
        if state:
            return state
        time.sleep(2)
    raise SmokeFailure(f"{what}: not done after {timeout} s")


def path_of(location: str) -> str:
    return urllib.parse.urlsplit(location).path


# --- The study ------------------------------------------------------------------------


def walk_through(stack: Stack) -> None:
    port = stack.port
    steward = Person("smoke-steward", ["output_checker"], steward=True)
    researcher = Person("smoke-researcher", ["researcher"])
    checker = Person("smoke-checker", ["output_checker"])

    health = Browser(port, "probe").get("/health/", https=False)
    check(json.loads(health.body) == {"status": "ok"}, "/health/ is not ok")
    plain = Browser(port, "probe").request("GET", "/accounts/login/", https=False)
    check(
        plain.status == 301 and plain.location.startswith("https://"),
        f"plain http was not redirected to https ({plain.status})",
    )
    say("health ok; plain http is redirected to https")

    create_people(stack, [steward, researcher, checker])
    say("people made: a data steward (and output checker), a researcher, an output checker")

    # The steward uploads a dataset and decides its columns as the scan suggests.
    browser = steward.sign_in(port)
    check("Strict-Transport-Security" in browser.get("/workspaces/").headers, "no HSTS")
    new = f"/workspaces/{WORKSPACE}/datasets/new/"
    response = browser.submit(
        browser.get(new),
        action=new,
        extra={
            "name": DATASET,
            "description": "Made-up admissions",
            "classification": "confidential",
        },
        files={"file": ("admissions.csv", admissions_csv(rows=1000), "text/csv")},
    )
    version_path = path_of(response.location)
    check(re.fullmatch(r"/workspaces/smoke/datasets/\d+/v1/", version_path), "upload failed")
    browser.submit(browser.get(version_path), testid="decisions")
    version_page = browser.get(version_path)
    check('class="badge">Ready<' in version_page.text, "the version is not ready")
    say(f"steward signed in (password and code), uploaded and decided {DATASET} v1")

    def sample_ready():
        fragment = browser.get(version_path + "synthetic/status/").text
        check('class="error"' not in fragment, "the synthetic sample failed")
        return "Browse the synthetic sample" in fragment

    wait_for("the synthetic sample", sample_ready)
    say("synthetic sample built by the worker")

    # The researcher: a dry run, then a real run, then a release request.
    browser = researcher.sign_in(port)
    new = f"/workspaces/{WORKSPACE}/jobs/new/"
    job_form = form(browser.get(new), testid="job-form")
    versions = job_form["boxes"].get("dataset_versions") or []
    check(len(versions) == 1, "the job form does not offer the dataset")

    def run_job(mode: str) -> str:
        page = browser.get(new)
        response = browser.submit(
            page, testid="job-form",
            extra={"script": SCRIPT, "title": f"smoke {mode}",
                   "dataset_versions": versions[0], f"run_{mode}": "1"},
        )  # fmt: skip
        job_path = path_of(response.location)
        check(re.fullmatch(r"/workspaces/smoke/jobs/\d+/", job_path), f"{mode} run refused")

        def ended():
            status = testid_text(browser.get(job_path + "status/"), "job-status")
            return status if status not in {"Queued", "Running", "In progress", ""} else None

        status = wait_for(f"the {mode} run", ended)
        check(status == "Finished", f"the {mode} run ended {status!r}")
        return job_path

    job_path = run_job("dry")
    check('data-testid="output-by_ward"' in browser.get(job_path).text, "no dry-run table")
    say("dry run finished in the sandbox, its table shown")

    job_path = run_job("real")
    say("real run finished in the sandbox (real-run worker)")
    release_new = job_path + "release/"
    page = browser.get(release_new)
    output = re.search(r'data-testid="choose-by_ward".*?name="include-(\d+)"', page.text, re.S)
    check(output, "the real run's table is not offered for release")
    pk = output.group(1)
    response = browser.submit(
        page, testid="release-form",
        extra={"description": "Smoke test table", f"include-{pk}": "on",
         f"what-{pk}": "Admissions per ward", f"why-{pk}": "Smoke test"},
    )  # fmt: skip
    release_path = path_of(response.location)
    check(re.fullmatch(r"/workspaces/smoke/releases/\d+/", release_path), "no release request")
    browser.submit(browser.get(release_path), action="/submit/")
    status = testid_text(browser.get(release_path), "release-status")
    check(status == "Submitted", f"the request is {status!r}, not submitted")
    say("release requested")

    # Two output checkers approve; the second releases.
    for person, expected in ((steward, "Partially reviewed"), (checker, "Approved")):
        browser = person.browser or person.sign_in(port)
        page = browser.get(release_path)
        browser.submit(page, action="/vote/", extra={"decision": "approve", "comment": "Fine"})
        browser.submit(browser.get(release_path), action="/submit_review/")
        status = testid_text(browser.get(release_path), "release-status")
        check(status == expected, f"after {person.username}'s review: {status!r}")
    browser.submit(browser.get(release_path), action="/release/")
    status = testid_text(browser.get(release_path), "release-status")
    check(status == "Released", f"the request is {status!r}, not released")
    say("two output checkers approved (one signed in now, with a code); released")

    # The researcher downloads the table and checks it is the one checked.
    browser = researcher.browser
    page = browser.get(release_path)
    link = re.search(r'<a href="(/workspaces/smoke/jobs/\d+/outputs/\d+/)">Download</a>', page.text)
    digest = re.search(r"SHA-256 ([0-9a-f]{64})", page.text)
    check(link and digest, "no download link for the researcher")
    table = browser.get(html.unescape(link.group(1)))
    check(hashlib.sha256(table.body).hexdigest() == digest.group(1), "checksum differs")
    check(table.text.startswith("ward"), "the download is not the table")
    say("researcher downloaded the released table; its SHA-256 matches")

    check("Audit trail intact" in stack.manage("verify_audit_chain"), "audit chain broken")
    say("audit trail intact")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    keep = parser.parse_args().keep

    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        say("no Docker daemon answers (`docker info` fails)")
        return 2
    try:
        stack = Stack(free_port())
    except SmokeFailure as failure:
        say(str(failure))
        return 2
    timings = {}
    started = time.monotonic()
    passed = False
    try:
        seconds = ensure_base_image()
        if seconds is not None:
            timings["base image"] = seconds
        stack.run("down", "--volumes", "--remove-orphans", capture=True)  # a leftover run

        phase = time.monotonic()
        placed = host_pip_settings()
        try:
            stack.run("build")
        finally:
            for path in placed:
                path.unlink(missing_ok=True)
        timings["stack build"] = time.monotonic() - phase

        phase = time.monotonic()
        stack.run("up", "--detach")
        stack.wait_healthy(["web", "worker", "real-worker"])
        timings["start until healthy"] = time.monotonic() - phase
        say(f"stack up and healthy on 127.0.0.1:{stack.port}")

        phase = time.monotonic()
        walk_through(stack)
        timings["smoke test"] = time.monotonic() - phase
        passed = True
    except (SmokeFailure, subprocess.CalledProcessError) as failure:
        say(f"FAILED: {failure}")
        stack.show_logs()
    finally:
        if keep:
            say(
                f"left running on 127.0.0.1:{stack.port}; remove it with: DJANGO_SECRET_KEY=x "
                "POSTGRES_PASSWORD=x TRE_MASTER_KEY=x TRE_AUDIT_KEY=x "
                f"{' '.join(stack.compose)} -p {PROJECT} down --volumes"
            )
        else:
            stack.run("down", "--volumes", "--remove-orphans", capture=True, check_status=False)
        timings["total"] = time.monotonic() - started
        say("timings: " + ", ".join(f"{name} {value:.0f} s" for name, value in timings.items()))
    say("PASSED" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
