"""Questions a script asks with differential privacy (`tre_sdk.dp`), and why a real run
asks exactly the questions of its dry run.

Inside the sandbox nothing is trusted: a script that has seen the real data could choose
which questions to ask, of which columns and with which ε, to spell out what it saw.
So a real run's questions are never read from the real run. The SDK writes the questions
down in every run; the worker reads them only after a dry run (on the synthetic sample,
eyes-on, so nothing real can steer them), checks each against the dataset's declared
rules and gives it a practice answer on the sample (with noise, nothing spent). When the
researcher then submits the same script on the same dataset versions as a real run, the
questions of that dry run are asked for real, spent with the submission in one
transaction (all or none), and answered by a worker outside the sandbox. Whatever the
real run does, its questions and their answers are the same.
"""

import json
import logging
from pathlib import Path

from django.core.exceptions import ValidationError

from privacy import mechanisms, services
from privacy.models import PrivacyBudget

logger = logging.getLogger(__name__)

QUESTIONS_FILE = ".tre-dp-questions.json"
MAX_FILE_BYTES = 64 * 1024
MAX_QUESTIONS = 20
# A script that may ask questions: the real run refuses to start without its dry run.
SDK_MARKERS = ("tre_sdk.dp", "from tre_sdk import dp", ".dp.")


def read_asked(output: Path) -> list[dict]:
    """The questions the SDK wrote down in `output`, as plain dicts (at most
    MAX_QUESTIONS; an unreadable file is no question at all)."""
    path = output / QUESTIONS_FILE
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return []
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, list):
        return []
    asked = []
    for item in document[:MAX_QUESTIONS]:
        if isinstance(item, dict):
            asked.append(
                {
                    "dataset": str(item.get("dataset", ""))[:100],
                    "statistic": str(item.get("statistic", ""))[:16],
                    "column": str(item.get("column") or "")[:200],
                    "by": [str(name)[:200] for name in (item.get("by") or [])][:3]
                    if isinstance(item.get("by"), list)
                    else [],
                    "epsilon": item.get("epsilon"),
                    "quantile": item.get("quantile"),
                }
            )
    return asked


def _question(asked: dict) -> mechanisms.Question:
    return services.question_of(
        statistic=asked["statistic"],
        epsilon=asked["epsilon"],
        column=asked["column"],
        by=asked["by"],
        quantile=asked["quantile"],
    )


def practise(job, output: Path) -> list[dict]:
    """After a dry run: each question its script asked, checked against the rules, with a
    practice answer on the synthetic sample (noise added, nothing spent) or the reason
    it can't be asked. Never raises: a question that trips the code says so."""
    from workspaces.models import SyntheticSample

    asked_questions = read_asked(output)
    if not asked_questions:
        return []  # most dry runs: no query on their way to the page
    versions = {
        version.dataset.name: version for version in job.dataset_versions.select_related("dataset")
    }
    recorded = []
    for asked in asked_questions:
        entry = dict(asked)
        try:
            version = versions.get(asked["dataset"])
            if version is None:
                raise ValidationError(f'This job has no dataset "{asked["dataset"]}".')
            entry["version"] = version.pk
            budget = PrivacyBudget.objects.filter(version=version).first()
            if budget is None:
                raise ValidationError(f"{version} has no privacy budget: a data steward sets one.")
            question = _question(asked)
            entry["epsilon"] = str(services.as_epsilon(question.epsilon))
            accuracy = services.check_question(budget, question)
            entry["accuracy"] = accuracy.statement
            entry["mechanism"] = accuracy.mechanism
            sample = SyntheticSample.objects.get(version=version)
            frame = services.frame_for(version, question, sample.file)
            practice = mechanisms.answer(
                question, frame, services.rules_of(budget), rows_per_person=budget.rows_per_person
            )
            entry["practice"] = {"columns": practice.columns, "rows": practice.rows}
        except ValidationError as error:
            entry["problem"] = " ".join(error.messages)
        except Exception as error:
            logger.error("Job %s: a practice answer failed: %s", job.pk, type(error).__name__)
            entry["problem"] = "The platform could not check this question."
        recorded.append(entry)
    return recorded


def mentions_questions(script: str) -> bool:
    return any(marker in script for marker in SDK_MARKERS)


def dry_run_of(job):
    """The researcher's latest finished dry run of exactly this script on exactly these
    dataset versions, or None."""
    from jobs.models import Job

    versions = set(job.dataset_versions.values_list("pk", flat=True))
    candidates = Job.objects.filter(
        workspace=job.workspace,
        submitted_by=job.submitted_by,
        mode=Job.Mode.DRY_RUN,
        status=Job.Status.FINISHED,
        script=job.script,
    ).order_by("-created_at")
    for candidate in candidates[:20]:
        if set(candidate.dataset_versions.values_list("pk", flat=True)) == versions:
            return candidate
    return None


def ask_for_real_run(*, job, by) -> list:
    """Spend and ask, with the real run `job` being submitted (in its transaction), the
    questions its script's dry run asked. Raises ValidationError, so that the run is not
    submitted, when they can't all be asked."""
    dry_run = dry_run_of(job)
    if dry_run is None:
        if mentions_questions(job.script):
            raise ValidationError(
                "This script asks questions with differential privacy (tre_sdk.dp): a real "
                "run asks exactly what its dry run asked, so dry-run this script on these "
                "datasets first."
            )
        return []
    recorded = dry_run.private_questions_asked
    if not recorded:
        return []
    for number, entry in enumerate(recorded, start=1):
        if entry.get("problem"):
            raise ValidationError(
                f"Question {number} of dry run #{dry_run.pk} can't be asked: "
                f"{entry['problem']} Change the script and dry-run it again."
            )
    from workspaces.models import DatasetVersion

    versions = {
        v.pk: v for v in DatasetVersion.objects.filter(pk__in=[e["version"] for e in recorded])
    }
    asked = [(versions[entry["version"]], _question(entry)) for entry in recorded]
    return services.ask_questions(asked=asked, by=by, job=job)
