"""The `tre` commands: each takes the parsed arguments and returns the exit code.

Results go to stdout (words, or JSON with `--json`); progress and errors to stderr.
"""

import getpass
import json
import os
import re
import sys
from pathlib import Path

from tre_cli import config
from tre_cli.client import Portal, one_line, path_segment, printable
from tre_cli.downloads import describe, safe_filename, save_verified
from tre_cli.errors import JobDidNotFinish, ServerRefused, UsageError
from tre_cli.progress import describe_state, follow, job_path

_DATASET_CHOICE = re.compile(r"[^@\s]+(@[0-9]+)?")
MODE_WORDS = {"dry_run": "dry run", "real": "real run"}


# Output ------------------------------------------------------------------------------


def emit_json(data) -> None:
    """Print `data` as JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def say(text: str = "") -> None:
    """Print `text` on stdout, with nothing in it that can drive the terminal."""
    print(printable(text))


def table(rows: list[list], headings: list[str]) -> None:
    """Print `rows` in aligned columns under `headings`."""
    cells = [[one_line(cell) for cell in row] for row in [headings, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headings))]
    for row in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def wants_json(args) -> bool:
    return getattr(args, "json", False)


# Signing in --------------------------------------------------------------------------


def connect() -> Portal:
    """The portal, as signed in to."""
    credentials = config.credentials()
    return Portal(credentials.url, credentials.token)


def read_token(given: str | None) -> str:
    """The token from --token, else typed without echo, else the first line of stdin."""
    if given is not None:
        return config.check_token(given)
    if sys.stdin.isatty():
        try:
            typed = getpass.getpass("API token (made at /accounts/tokens/; not shown): ")
        except EOFError:
            typed = ""
        return config.check_token(typed)
    return config.check_token(sys.stdin.readline())


def login(args) -> int:
    """`tre login URL`: check the token with the portal, then save both."""
    url = config.portal_url(args.url)
    if url.startswith("http://") and not config.is_loopback(url):
        print(
            "tre: warning: http:// sends your token unencrypted; use https:// "
            "unless the portal is on this machine",
            file=sys.stderr,
        )
    token = read_token(args.token)
    me = Portal(url, token).get_json("me")
    path = config.save(config.Credentials(url=url, token=token))
    token_facts = me.get("token") or {}
    if wants_json(args):
        # What the token may do and until when; never the token itself.
        emit_json(
            {
                "url": url,
                "config": str(path),
                "username": me.get("username"),
                "token": {key: token_facts.get(key) for key in ("name", "scope", "expires_at")},
            }
        )
        return 0
    say(f"Signed in to {url} as {me.get('username')}.")
    say(
        f"Token {token_facts.get('name')!r}: scope {token_facts.get('scope')}, "
        f"expires {token_facts.get('expires_at') or 'never'}. Saved in {path}."
    )
    return 0


def logout(args) -> int:
    """`tre logout`: delete the saved address and token."""
    removed = config.remove()
    if wants_json(args):
        emit_json({"removed": None if removed is None else str(removed)})
    elif removed is None:
        say(f"Not signed in: there is no {config.config_path()}.")
    else:
        say(f"Signed out: removed {removed}.")
        say("The token stays valid until it expires or you revoke it at /accounts/tokens/.")
    if os.environ.get("TRE_TOKEN"):
        print("tre: TRE_TOKEN is still set in this shell's environment", file=sys.stderr)
    return 0


# Workspaces and datasets -------------------------------------------------------------


def choose_workspace(portal: Portal, given: str | None) -> str:
    """--workspace, else $TRE_WORKSPACE, else the only workspace this person is in."""
    if given:
        return given
    if from_environment := os.environ.get("TRE_WORKSPACE"):
        return from_environment
    slugs = [workspace["slug"] for workspace in portal.get_json("workspaces")]
    if len(slugs) == 1:
        return slugs[0]
    if not slugs:
        raise ServerRefused("you are in no workspace: ask a workspace's owner to add you")
    raise UsageError(
        f"you are in {len(slugs)} workspaces ({', '.join(slugs)}): "
        "choose one with --workspace SLUG or TRE_WORKSPACE"
    )


def workspaces(args) -> int:
    """`tre workspaces`: the person's workspaces and roles."""
    listed = connect().get_json("workspaces")
    if wants_json(args):
        emit_json(listed)
        return 0
    rows = [[item["slug"], item["name"], ", ".join(item.get("roles", []))] for item in listed]
    table(rows, ["SLUG", "NAME", "YOUR ROLES"])
    return 0


def datasets(args) -> int:
    """`tre datasets`: a workspace's datasets and their versions."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    listed = portal.get_json(f"workspaces/{path_segment(workspace)}/datasets")
    if wants_json(args):
        emit_json(listed)
        return 0
    if not listed:
        say(f"No datasets in workspace {workspace} yet.")
    for dataset in listed:
        description = dataset.get("description")
        say(f"{dataset['name']}" + (f" — {one_line(description)}" if description else ""))
        for version in dataset.get("versions", []):
            sample = "sample ready" if version.get("sample_ready") else "no sample yet"
            rows = version.get("row_count")
            say(
                f"  version {version.get('number')}: {version.get('status')}, "
                f"{'?' if rows is None else rows} rows, "
                f"{len(version.get('columns') or [])} columns, {sample}"
            )
    return 0


def sample(args) -> int:
    """`tre sample DATASET`: save a dataset's synthetic sample, verified."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    chosen = (
        None
        if args.output == "-"
        else Path(args.output or f"{safe_filename(args.dataset, 'sample')}.csv")
    )
    saved = save_verified(
        portal,
        f"workspaces/{path_segment(workspace)}/datasets/{path_segment(args.dataset)}/sample.csv",
        query={"version": args.version},
        destination=lambda _suggested: chosen,
        force=args.force,
    )
    if wants_json(args) and chosen is not None:
        emit_json({"dataset": args.dataset, "version": args.version, **saved.as_dict()})
    elif chosen is not None:
        say(describe(saved))
    return 0


# Jobs -------------------------------------------------------------------------------


def follow_command(job_id, args) -> str:
    """The command line that follows a job again, as the person would type it."""
    workspace = f" --workspace {args.workspace}" if args.workspace else ""
    return f"tre status {job_id}{workspace} --wait"


def show_job(job: dict) -> None:
    """What the portal's job page shows, in words."""
    mode = MODE_WORDS.get(job.get("mode"), job.get("mode"))
    say(f"Job {job['id']} ({mode}): {describe_state(job)}")
    for label, key in (
        ("title", "title"),
        ("submitted", "submitted_at"),
        ("started", "started_at"),
        ("runtime", "runtime"),
    ):
        if job.get(key):
            say(f"  {label}: {one_line(job[key])}")
    if job.get("datasets"):
        say(f"  datasets: {', '.join(map(str, job['datasets']))}")
    outputs = job.get("outputs") or []
    if outputs:
        say("  outputs:")
    for output in outputs:
        say(f"    {describe_output(job, output)}")


def describe_output(job: dict, output: dict) -> str:
    """One line about an output: what the job page shows of it."""
    kind = output.get("type") or "?"
    if output.get("kind"):
        kind += f", {output['kind']}"
    line = f"#{output.get('id')} {output.get('name')} ({kind})"
    # A real run's sizes are not shown (the portal's channel rules): null, then no size.
    if output.get("size_bytes") is not None:
        line += f", {output['size_bytes']} bytes"
    if job.get("mode") == "real":
        line += f"; checks: {describe_verdict(output.get('verdict'))}"
        line += "; released" if output.get("released") else "; not released"
    return one_line(line)


def describe_verdict(verdict) -> str:
    """A real run's automated-checks verdict as the portal shows it to a researcher."""
    if isinstance(verdict, dict) and verdict.get("status"):
        rules = verdict.get("rules") or []
        return str(verdict["status"]) + (f" ({', '.join(map(str, rules))})" if rules else "")
    if not verdict:
        return "not shown"
    return json.dumps(verdict, ensure_ascii=False)


def ended_without_finishing(job: dict) -> bool:
    """Whether the job has ended, but not by finishing."""
    return bool(job.get("has_ended")) and job.get("state") != "finished"


def did_not_finish(job: dict) -> JobDidNotFinish:
    return JobDidNotFinish(f"job {job['id']} ended without finishing: {describe_state(job)}")


def run(args) -> int:
    """`tre run SCRIPT.py`: submit a job; with --wait, follow it and show its result."""
    if not args.dataset:
        raise UsageError("name at least one dataset: --dataset NAME[@VERSION]")
    for choice in args.dataset:
        if not _DATASET_CHOICE.fullmatch(choice):
            raise UsageError(f"{choice!r} is not NAME or NAME@VERSION (a number)")
    script = read_script(Path(args.script))
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    body = {"script": script, "datasets": args.dataset, "mode": args.mode}
    if args.title is not None:
        body["title"] = args.title
    job = portal.post_json(f"workspaces/{path_segment(workspace)}/jobs", body)
    if not args.wait:
        if wants_json(args):
            emit_json(job)
        else:
            say(
                f"Submitted job {job['id']} ({MODE_WORDS.get(job.get('mode'), job.get('mode'))})"
                f" in workspace {workspace}: {describe_state(job)}."
            )
            say(f"Follow it with: {follow_command(job['id'], args)}")
        return 0
    print(f"tre: submitted job {job['id']} in workspace {workspace}", file=sys.stderr)
    job = follow(portal, workspace, job, follow_hint=follow_command(job["id"], args))
    saved: list[dict] = []
    if job.get("mode") == "dry_run":
        if not wants_json(args):
            if job.get("log"):
                say(job["log"].rstrip("\n"))
            say(f"Job {job['id']} (dry run): {describe_state(job)}")
        directory = Path(args.output or f"tre-job-{job['id']}")
        saved = download_outputs(
            portal,
            workspace,
            job,
            job.get("outputs") or [],
            directory,
            force=args.force,
            quiet=wants_json(args),
        )
    if wants_json(args):
        # The job as `tre status --json` gives it, and the one thing the client adds.
        emit_json({**job, "saved": saved})
    elif job.get("mode") != "dry_run":
        show_job(job)
    if ended_without_finishing(job):
        raise did_not_finish(job)
    return 0


def read_script(path: Path) -> str:
    """The script to submit, as text."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"there is no script {path}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text: is it a Python script?") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None


def download_outputs(portal, workspace, job, outputs, directory: Path, *, force, quiet):
    """Save `outputs` of `job` in `directory`, each verified; what was saved, as JSON."""
    saved = []
    for output in outputs:
        fallback = safe_filename(str(output.get("name") or ""), f"output-{output['id']}")
        file = save_verified(
            portal,
            f"{job_path(workspace, job['id'])}/outputs/{path_segment(output['id'])}",
            destination=lambda suggested, fallback=fallback: (
                directory / safe_filename(suggested or "", fallback)
            ),
            force=force,
        )
        saved.append({"id": output["id"], "name": output.get("name"), **file.as_dict()})
        if not quiet:
            say(describe(file))
    return saved


def status(args) -> int:
    """`tre status JOB`: a job as its page shows it; exit 4 if it ended unfinished."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    job = portal.get_json(job_path(workspace, args.job))
    if args.wait:
        job = follow(portal, workspace, job, follow_hint=follow_command(job["id"], args))
    if wants_json(args):
        emit_json(job)
    else:
        show_job(job)
        if args.log and job.get("log"):
            say("  log:")
            say(job["log"].rstrip("\n"))
    if ended_without_finishing(job):
        raise did_not_finish(job)
    return 0


def jobs(args) -> int:
    """`tre jobs`: the workspace's jobs, newest first."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    listed = portal.get_json(
        f"workspaces/{path_segment(workspace)}/jobs", query={"limit": args.limit}
    )
    if wants_json(args):
        emit_json(listed)
        return 0
    rows = [
        [
            job.get("id"),
            MODE_WORDS.get(job.get("mode"), job.get("mode")),
            job.get("state_label") or job.get("state"),
            job.get("submitted_at") or "",
            job.get("submitted_by") or "",
            job.get("title") or "",
        ]
        for job in listed
    ]
    table(rows, ["ID", "MODE", "STATE", "SUBMITTED", "BY", "TITLE"])
    return 0


# Releases and downloads ---------------------------------------------------------------


def release(args) -> int:
    """`tre release JOB`: create and submit a release request for outputs."""
    if not args.why.strip():
        raise UsageError("say why these outputs should leave: --why TEXT")
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    # The API takes output names or ids; a bare number is an id (`tre status` shows #ID).
    outputs = [int(name) if name.isdigit() else name for name in args.output]
    created = portal.post_json(
        f"{job_path(workspace, args.job)}/release",
        {"outputs": outputs, "justification": args.why},
    )
    if wants_json(args):
        emit_json(created)
        return 0
    say(
        f"Release request {created['id']} for job {args.job}: "
        f"{created.get('status_label') or created.get('status')}"
    )
    for item in created.get("items") or []:
        say(f"  {item.get('output')}: {item.get('state')}")
    return 0


def download(args) -> int:
    """`tre download JOB`: save the job's outputs the person may have, verified."""
    portal = connect()
    workspace = choose_workspace(portal, args.workspace)
    job = portal.get_json(job_path(workspace, args.job))
    outputs = job.get("outputs") or []
    if job.get("mode") == "real":
        # Nothing of a real run leaves before release; the portal refuses the rest anyway.
        outputs = [output for output in outputs if output.get("released")]
    if not outputs:
        if wants_json(args):
            emit_json([])
        else:
            what = "has been released" if job.get("mode") == "real" else "exists"
            print(
                f"tre: nothing to download: no output of job {job['id']} {what} yet",
                file=sys.stderr,
            )
        return 0
    directory = Path(args.output or f"tre-job-{job['id']}")
    saved = download_outputs(
        portal, workspace, job, outputs, directory, force=args.force, quiet=wants_json(args)
    )
    if wants_json(args):
        emit_json(saved)
    return 0
