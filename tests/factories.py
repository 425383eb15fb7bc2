import factory
from django.contrib.auth import get_user_model

from tre.permissions import Role
from workspaces.models import Membership, Workspace

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    """A membership row: its signal grants the guardian permissions, but no audit entry
    is written (tests about the audited path call workspaces.services instead)."""

    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    roles = factory.LazyFunction(lambda: [Role.RESEARCHER.value])


def upload_of(content: bytes | str):
    """An in-memory file to ingest, as the upload handler or the CLI would hand it over."""
    import io

    from workspaces.services.datasets import Upload

    data = content.encode() if isinstance(content, str) else content
    return Upload(open_binary=lambda: io.BytesIO(data), size_bytes=len(data))


def admissions_csv(rows: int = 300, seed: int = 7) -> str:
    """A small admissions table with the identifiers a real one would have."""
    from tre.demo import admissions_csv as made_up_admissions

    return made_up_admissions(rows, seed)


def marked_csv(marker: str, rows: int = 300) -> str:
    """The admissions table with a kept column `code` whose every value is unique and
    starts with `marker`: a value of the real data that appears nowhere else (unique, so
    rare, so never copied into the synthetic sample), to look for where it must not be."""
    lines = admissions_csv(rows).splitlines()
    lines[0] += ",code"
    for index in range(1, len(lines)):
        lines[index] += f",{marker}{index:05d}X"
    return "\n".join(lines) + "\n"


def job_output(job, name: str, content: bytes = b"ward,n\nA,12\n", **fields):
    """A stored (encrypted) table output of `job`, as the worker would leave it."""
    from jobs.models import JobOutput
    from tre import vault

    encrypted = vault.write_encrypted("output", lambda sink: sink.write(content))
    values = {"type": "table", "kind": "frequency", "filename": f"{name}.csv", **fields}
    return JobOutput.objects.create(
        job=job, name=name, file=encrypted, size_bytes=encrypted.size_bytes,
        sha256=encrypted.sha256, **values,
    )  # fmt: skip


def finished_real_job(version, by, **fields):
    """A finished real-data run of `version` by `by`, made directly (no sandbox run): for
    tests of the airlock and of serving, which start where a run has ended."""
    from jobs.models import Job

    values = {"script": "...", "status": Job.Status.FINISHED, **fields}
    job = Job.objects.create(
        workspace=version.dataset.workspace, submitted_by=by, mode=Job.Mode.REAL, **values
    )
    job.dataset_versions.set([version])
    return job


def make_data_steward(user):
    """Site staff in the "Data stewards" group (workspaces' migration 0006)."""
    from tre.permissions import steward_group

    group = steward_group()  # again after a transactional test's flush emptied it
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(group)
    return type(user).objects.get(pk=user.pk)  # no stale permission cache


def census_csv(rows: int = 200, seed: int = 3) -> str:
    """A made-up table shaped like the Adult census data: no direct identifier at all, so
    the scan flags nothing and every column is kept."""
    import random

    rng = random.Random(seed)
    columns = ["age", "workclass", "education", "education_num", "marital_status",
               "occupation", "sex", "hours_per_week", "native_country", "income"]  # fmt: skip
    lines = [",".join(columns)]
    for _ in range(rows):
        values = [
            rng.randint(17, 90),
            rng.choice(["Private", "Self-emp-not-inc", "State-gov"]),
            rng.choice(["Bachelors", "HS-grad", "Masters"]),
            rng.randint(1, 16),
            rng.choice(["Never-married", "Divorced", "Married-civ-spouse"]),
            rng.choice(["Sales", "Tech-support", "Craft-repair"]),
            rng.choice(["Male", "Female"]),
            rng.randint(10, 60),
            rng.choice(["United-States", "Mexico", "India"]),
            rng.choice(["<=50K", ">50K"]),
        ]
        lines.append(",".join(map(str, values)))
    return "\n".join(lines) + "\n"
