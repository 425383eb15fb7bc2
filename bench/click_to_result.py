"""Click to result: from clicking "Run dry" on the new-job page until the output table is
on screen, as a researcher sees it.

    .venv/bin/python bench/click_to_result.py [--runs 10]

A throwaway SQLite database and data directory (or DATABASE_URL), an embedded Redis (or
REDIS_URL), a real Celery worker (two pool processes), the portal under Django's
runserver (threaded, as `dev.py demo` runs it) and Debian's Chromium through Playwright.
The researcher signs in as a person does (password, then a code from their
authenticator app, computed with pyotp), opens the new-job page with the 10,000-row
admissions dataset, puts bench/jobs.py's pandas script in the editor and clicks. After
one run to warm up, the median of `--runs`, each after `--pause` seconds on the form (a
researcher edits before running again; the worker warms its next sandbox meanwhile, unless
TRE_WARM_SANDBOX=0). Besides the whole, each run is split at the
job's own times from the database: click to submitted (the form's post), submitted to
finished (the worker), finished to on screen (the page noticing, and drawing the table).
"""

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PANDAS = """import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
tre_sdk.save_table("by_ward", admissions.groupby("ward").size().rename("n").reset_index(),
                   kind="frequency")
"""
TABLE = '[data-testid="output-by_ward"] table tbody tr'
# Playwright notices a selector by polling, at up to 500 ms between looks, so the page
# itself notes when the table came, at the frame that draws it (an init script is
# injected by the browser: the site's CSP does not stop it).
NOTE_WHEN_SEEN = """
new MutationObserver((changes, observer) => {
  if (document.querySelector('SELECTOR')) {
    observer.disconnect();
    requestAnimationFrame(() => { window.tableSeenAt = Date.now(); });
  }
}).observe(document, {childList: true, subtree: true});
""".replace("SELECTOR", TABLE)


def setup():
    from django.contrib.auth import get_user_model

    from tests.auth import enrol_totp
    from tests.factories import PASSWORD, admissions_csv, make_data_steward, upload_of
    from tre.permissions import Role
    from workspaces import services
    from workspaces.models import Membership, Workspace
    from workspaces.services.datasets import suggested_decisions

    user_model = get_user_model()
    researcher = user_model.objects.create_user("researcher", password=PASSWORD)
    enrol_totp(researcher)
    steward = make_data_steward(user_model.objects.create_user("steward"))
    workspace = Workspace.objects.create(name="Bench", slug="bench")
    Membership.objects.create(workspace=workspace, user=researcher, roles=[Role.RESEARCHER])
    Membership.objects.create(workspace=workspace, user=steward, roles=[Role.OUTPUT_CHECKER])
    version = services.ingest_dataset(workspace=workspace, by=steward, name="admissions",
                                      upload=upload_of(admissions_csv(10_000)))  # fmt: skip
    version = services.decide_columns(version=version, by=steward,
                                      decisions=suggested_decisions(version))  # fmt: skip
    services.build_synthetic_sample(sample=version.synthetic_sample)
    return researcher


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def process(command, ready):
    """A child process of the project, stopped on the way out; `ready()` says it is up."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    popen = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if popen.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{command[2:4]} did not start")
            time.sleep(0.2)
        yield
    finally:
        popen.terminate()
        popen.wait(timeout=60)


def answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def throwaway_project(stack: contextlib.ExitStack, *, prefix: str) -> str:
    """Django set up on a throwaway data directory and database (or DATABASE_URL) and an
    embedded Redis (or REDIS_URL) stopped with `stack`, migrated; the data directory."""
    data_dir = tempfile.mkdtemp(prefix=prefix)
    # Playwright's sync API runs an event loop in this thread, beside the ORM's calls.
    os.environ.update(
        TRE_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="tre.settings", DJANGO_ALLOW_ASYNC_UNSAFE="1"
    )
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_dir}/bench.sqlite3")
    sys.path.insert(0, str(ROOT))
    from tre.embedded_redis import embedded_redis

    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = stack.enter_context(embedded_redis())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


def start_portal_and_worker(stack: contextlib.ExitStack, data_dir: str) -> int:
    """The portal under runserver (threaded, as `dev.py demo` runs it) and a Celery
    worker with two pool processes on every queue, stopped with `stack`; the port."""
    port = free_port()
    stack.enter_context(process(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        ready=lambda: answers(port),
    ))  # fmt: skip
    worker_log = Path(data_dir) / "worker.log"
    stack.enter_context(process(
        [sys.executable, "-m", "celery", "-A", "tre", "worker", "--concurrency", "2",
         "--queues", "default,dry_runs,real_runs", "--loglevel", "INFO",
         "--logfile", str(worker_log), "--without-mingle", "--without-gossip"],
        ready=lambda: worker_log.exists() and "ready." in worker_log.read_text(),
    ))  # fmt: skip
    return port


def browser_context(stack: contextlib.ExitStack, sync_playwright, port: int):
    """A fresh Chromium context on the portal at `port`, closed with `stack`."""
    playwright = stack.enter_context(sync_playwright())
    browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
    stack.callback(browser.close)
    return browser.new_context(base_url=f"http://127.0.0.1:{port}")


def sign_in(page, researcher) -> None:
    from tests.auth import fresh_code
    from tests.factories import PASSWORD

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(researcher.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("Code").fill(fresh_code(researcher))
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.wait_for_url("**/workspaces/")


def click_to_result(page, pause: float = 0.0) -> dict:
    """One run: seconds from the click to the table on screen, split at the job's times.
    `pause`: seconds spent on the form first, as a researcher editing the script does
    (the worker warms its next sandbox meanwhile)."""
    from jobs.models import Job

    page.goto("/workspaces/bench/jobs/new/")
    page.wait_for_selector(".CodeMirror")
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)",
                  PANDAS)  # fmt: skip
    page.get_by_label("admissions v1").check()
    page.wait_for_timeout(pause * 1000)
    clicked = time.time()
    page.get_by_role("button", name="Dry run on the synthetic samples").click()
    page.wait_for_selector(TABLE, state="visible", timeout=120_000)
    page.wait_for_timeout(100)  # its next frame has come
    seen_wall = page.evaluate("() => window.tableSeenAt") / 1000
    job = Job.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    if job.status != Job.Status.FINISHED:
        sys.exit(f"job {job.pk} did not finish: {job.status} {job.status_reason}")
    submitted, finished = job.created_at.timestamp(), job.finished_at.timestamp()
    started = job.started_at.timestamp()
    return {
        "click to result on screen": seen_wall - clicked,
        "click to submitted": submitted - clicked,
        "submitted to finished (worker)": finished - submitted,
        "  of which submitted to started": started - submitted,
        "finished to on screen (page)": seen_wall - finished,
    }


def report(samples: list[dict]) -> None:
    print(f"{len(samples)} dry runs of the 10,000-row pandas script; milliseconds")
    for name in samples[0]:
        values = [sample[name] * 1000 for sample in samples]
        print(f"  {name:32} median {statistics.median(values):6.0f}  "
              f"min {min(values):6.0f}  max {max(values):6.0f}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pause", type=float, default=5.0, help="seconds on the form first")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        data_dir = throwaway_project(stack, prefix="tre-bench-click-")
        from playwright.sync_api import sync_playwright

        researcher = setup()
        port = start_portal_and_worker(stack, data_dir)
        context = browser_context(stack, sync_playwright, port)
        context.add_init_script(NOTE_WHEN_SEEN)
        page = context.new_page()
        sign_in(page, researcher)
        click_to_result(page)  # warm: the worker's pool, the server's first requests
        report([click_to_result(page, args.pause) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
