"""A question with differential privacy, from the click to the answer on screen.

    .venv/bin/python bench/dp_question.py [--rows 1000000] [--runs 10]

A count by ward (one grouping column, five declared wards and "(other)") of a table of
`--rows` made-up admissions, asked in Chromium through Playwright on the version's privacy
page, as a researcher does: the time is from clicking "Spend and answer" until the answer's
table is drawn (noted by the page itself, at the frame that draws it). The split uses the
question's own times from the database: click to asked (the form's post), asked to
answered (the queue, reading the two needed columns, OpenDP), answered to on screen. The
same stack as bench/click_to_result.py: a throwaway SQLite database and data directory (or
DATABASE_URL), an embedded Redis (or REDIS_URL), a real Celery worker, the portal under
runserver. Target (issue 13): under 1 s for 1,000,000 rows.
"""

import argparse
import contextlib
import statistics
import sys
import time

import numpy as np
import pandas as pd
from click_to_result import browser_context, sign_in, start_portal_and_worker, throwaway_project

ANSWER = '[data-testid="answer"] tbody tr'
NOTE_WHEN_SEEN = """
new MutationObserver((changes, observer) => {
  if (document.querySelector('SELECTOR')) {
    observer.disconnect();
    requestAnimationFrame(() => { window.answerSeenAt = Date.now(); });
  }
}).observe(document, {childList: true, subtree: true});
""".replace("SELECTOR", ANSWER)


def admissions(rows: int) -> bytes:
    rng = np.random.default_rng(7)
    wards = np.array(["cardiology", "oncology", "renal", "maternity", "surgery"])
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 95, rows),
            "ward": wards[rng.integers(0, len(wards), rows)],
            "length_of_stay": np.round(rng.gamma(2, 3, rows), 1),
            "readmitted": np.where(rng.random(rows) < 0.12, "true", "false"),
        }
    )
    return frame.to_csv(index=False).encode()


def setup(rows: int):
    from django.contrib.auth import get_user_model

    from privacy import services as privacy_services
    from tests.auth import enrol_totp
    from tests.factories import PASSWORD, make_data_steward, upload_of
    from tre.demo import PRIVACY_COLUMNS
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
    began = time.monotonic()
    version = services.ingest_dataset(
        workspace=workspace, by=steward, name="admissions", upload=upload_of(admissions(rows))
    )
    version = services.decide_columns(
        version=version, by=steward, decisions=suggested_decisions(version)
    )
    print(f"ingested {rows:,} rows in {time.monotonic() - began:.1f} s")
    privacy_services.set_budget(version=version, by=steward, epsilon=100, columns=PRIVACY_COLUMNS)
    return researcher, version


def ask(page, url: str) -> dict:
    from privacy.models import PrivateQuestion

    page.goto(url)
    page.get_by_label("Statistic").select_option("count")
    page.get_by_label("By", exact=True).select_option("ward")
    page.get_by_label("ε").fill("0.5")
    page.wait_for_selector('[data-testid="accuracy-statement"]')
    clicked = time.time()
    page.get_by_role("button", name="Spend and answer").click()
    page.wait_for_selector(ANSWER, state="visible", timeout=120_000)
    page.wait_for_timeout(100)
    seen = page.evaluate("() => window.answerSeenAt") / 1000
    question = PrivateQuestion.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    asked, answered = question.asked_at.timestamp(), question.answered_at.timestamp()
    return {
        "click to answer on screen": seen - clicked,
        "click to asked": asked - clicked,
        "asked to answered (worker)": answered - asked,
        "answered to on screen (page)": seen - answered,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        data_dir = throwaway_project(stack, prefix="tre-bench-dp-")
        from playwright.sync_api import sync_playwright

        researcher, version = setup(args.rows)
        port = start_portal_and_worker(stack, data_dir)
        from workspaces.models import SyntheticSample

        # The sample the decision queued is built first, so that it does not share the
        # two cores with the questions.
        deadline = time.monotonic() + 600
        while SyntheticSample.objects.get(version=version).status not in ("ready", "failed"):
            if time.monotonic() > deadline:
                sys.exit("the synthetic sample was not built")
            time.sleep(1)
        context = browser_context(stack, sync_playwright, port)
        context.add_init_script(NOTE_WHEN_SEEN)
        page = context.new_page()
        sign_in(page, researcher)
        url = f"/workspaces/bench/datasets/{version.dataset_id}/v{version.number}/privacy/"
        ask(page, url)  # warm: the worker's pool, the server's first requests
        samples = [ask(page, url) for _ in range(args.runs)]
        print(f"{len(samples)} counts by ward on {args.rows:,} rows; milliseconds")
        for name in samples[0]:
            values = [sample[name] * 1000 for sample in samples]
            print(f"  {name:30} median {statistics.median(values):6.0f}  "
                  f"min {min(values):6.0f}  max {max(values):6.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
