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
    import random

    rng = random.Random(seed)
    first = ["Ann", "Bob", "Cara", "Dev", "Ema", "Finn", "Gul", "Hana", "Ivo", "Jon"]
    last = ["Smith", "Jones", "Patel", "Khan", "Brown", "Wilson", "Taylor", "Evans"]
    wards = ["cardiology", "oncology", "renal", "maternity", "surgery"]
    lines = [
        "patient_name,nhs_number,email,postcode,date_of_birth,age,ward,length_of_stay,readmitted"
    ]
    for index in range(rows):
        body = f"{rng.randrange(100000000, 999999999):09d}"
        digits = [int(d) for d in body]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check == 10:
            body, check = "943476591", 9
        age = rng.randrange(18, 95)
        lines.append(
            f"{rng.choice(first)} {rng.choice(last)},{body}{check},"
            f"person{index}@example.org,SW{rng.randrange(1, 20)} {rng.randrange(1, 9)}AB,"
            f"{2024 - age}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d},{age},"
            f"{rng.choice(wards)},{round(rng.gammavariate(2, 3) + age / 30, 1)},"
            f"{'true' if rng.random() < 0.2 else 'false'}"
        )
    return "\n".join(lines) + "\n"
