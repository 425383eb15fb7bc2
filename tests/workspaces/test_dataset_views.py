import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import admissions_csv
from tre.models import AuditEvent
from workspaces.models import DatasetVersion

pytestmark = pytest.mark.django_db

REAL_CSV = admissions_csv(60)  # the same rows the ready_version fixture ingests
REAL_ROWS = list(csv.DictReader(io.StringIO(REAL_CSV)))


def real_values():
    """Every identifying value of the real table, as it could appear in a page."""
    values = set()
    for row in REAL_ROWS:
        values |= {
            row["patient_name"],
            row["nhs_number"],
            row["email"],
            row["postcode"],
            row["date_of_birth"],
        }
    return values


def pages_of(version):
    base = version.get_absolute_url()
    return [
        f"/workspaces/{version.dataset.workspace.slug}/",
        version.dataset.get_absolute_url(),
        base,
        base + "synthetic/",
        base + "synthetic/?sort=age&dir=desc&page=2",
        base + "synthetic/status/",
        base + "synthetic.csv",
    ]


@pytest.mark.parametrize("viewer", ["researcher", "checker"])
def test_no_page_ever_shows_a_real_identifying_value(request, client, ready_version, viewer):
    client.force_login(request.getfixturevalue(viewer))
    for url in pages_of(ready_version):
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        leaked = [value for value in real_values() if value in content]
        assert leaked == [], f"{url} shows real values"


def test_the_steward_reviews_flagged_columns_before_anything_is_released(
    client, workspace, checker
):
    client.force_login(checker)
    response = client.post(
        "/workspaces/cardiac/datasets/new/",
        {
            "file": SimpleUploadedFile("admissions.csv", REAL_CSV.encode()),
            "name": "admissions",
            "classification": "restricted",
            "encoding": "utf-8",
        },
        follow=True,
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Decide what to do with each column" in content
    assert 'data-column="email"' in content
    assert "nothing found" in content
    for value in real_values():
        assert value not in content
    version = DatasetVersion.objects.get()
    # Researchers do not see a version before the steward has decided.
    assert version.status == "awaiting_decisions"


def test_a_researcher_cannot_see_an_undecided_version(client, workspace, checker, researcher):
    from tests.factories import upload_of
    from workspaces import services

    version = services.ingest_dataset(
        workspace=workspace, upload=upload_of(REAL_CSV), by=checker, name="admissions"
    )
    client.force_login(researcher)
    assert client.get(version.get_absolute_url()).status_code == 404
    assert b"v1" not in client.get(version.dataset.get_absolute_url()).content


def test_the_decision_form_applies_choices(
    client, workspace, checker, django_capture_on_commit_callbacks
):
    from tests.factories import upload_of
    from workspaces import services

    version = services.ingest_dataset(
        workspace=workspace, upload=upload_of(REAL_CSV), by=checker, name="admissions"
    )
    columns = [column["name"] for column in version.staged_schema]
    data = {f"action-{index}": "keep" for index in range(len(columns))}
    data[f"action-{columns.index('patient_name')}"] = "drop"
    data[f"action-{columns.index('email')}"] = "drop"
    data[f"action-{columns.index('nhs_number')}"] = "pseudonymise"
    data[f"action-{columns.index('age')}"] = "generalise"
    data[f"generalise-{columns.index('age')}"] = "10"
    # The browser sends every "to ..." menu, also beside actions that are not generalise.
    data[f"generalise-{columns.index('date_of_birth')}"] = "year"
    client.force_login(checker)
    with django_capture_on_commit_callbacks():
        response = client.post(version.get_absolute_url() + "decide/", data, follow=True)
    assert b"is ready" in response.content
    version.refresh_from_db()
    decided = {d["column"]: (d["action"], d["generalise_to"]) for d in version.decisions}
    assert decided["age"] == ("generalise", "10")
    assert decided["postcode"] == ("keep", None)
    assert [c["kind"] for c in version.schema if c["name"] == "age"] == ["string"]


def test_an_upload_error_is_shown_on_the_form(client, workspace, checker):
    client.force_login(checker)
    response = client.post(
        "/workspaces/cardiac/datasets/new/",
        {
            "file": SimpleUploadedFile("bad.csv", b"a,b\n1,2\n3,4,5\n"),
            "name": "bad",
            "classification": "internal",
            "encoding": "utf-8",
        },
    )
    assert response.status_code == 400
    assert b"Line 3 has 3 fields; the header has 2" in response.content
    assert not DatasetVersion.objects.exists()


def test_an_upload_over_the_limit_is_refused_plainly(client, workspace, checker, settings):
    settings.TRE_MAX_UPLOAD_BYTES = 100
    client.force_login(checker)
    response = client.post(
        "/workspaces/cardiac/datasets/new/",
        {
            "file": SimpleUploadedFile("big.csv", REAL_CSV.encode()),
            "name": "big",
            "classification": "internal",
            "encoding": "utf-8",
        },
    )
    assert response.status_code == 400
    assert b"larger than the limit" in response.content


def test_the_sample_table_pages_and_sorts(client, ready_version, researcher):
    client.force_login(researcher)
    url = ready_version.get_absolute_url() + "synthetic/"
    first = client.get(url, {"sort": "age", "dir": "asc"})
    ages = [row[first.context["columns"].index("age")] for row in first.context["rows"]]
    assert ages == sorted(ages)
    assert first.context["pages"] == -(-ready_version.synthetic_sample.row_count // 50)
    last = client.get(url, {"page": 10_000})
    assert last.context["page"] == last.context["pages"]
    assert client.get(url, {"sort": "no_such_column", "page": "x"}).status_code == 200


def test_the_sample_downloads_as_csv_and_the_download_is_audited(client, ready_version, researcher):
    client.force_login(researcher)
    response = client.get(ready_version.get_absolute_url() + "synthetic.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == ready_version.synthetic_sample.row_count
    assert "patient_name" not in rows[0]
    event = AuditEvent.objects.get(action="synthetic_sample.downloaded")
    assert event.actor == researcher


def test_the_status_fragment_polls_only_while_building(client, ready_version, researcher):
    client.force_login(researcher)
    url = ready_version.get_absolute_url() + "synthetic/status/"
    assert b"hx-trigger" not in client.get(url).content
    sample = ready_version.synthetic_sample
    sample.status = "running"
    sample.progress = 0.4
    sample.save()
    content = client.get(url).content
    assert b'hx-trigger="every 1s"' in content
    assert b'value="0.4"' in content


def upload_with_csrf(client, url, data):
    """Post as a browser does: token from the form page, CSRF enforced."""
    page = client.get(url)
    token = page.cookies["csrftoken"].value
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


def test_uploads_are_encrypted_as_they_arrive_with_csrf_enforced(
    workspace, checker, settings, tmp_path, monkeypatch
):
    from tests.auth import SignedInClient

    spool = tmp_path / "spool"
    spool.mkdir()
    settings.TRE_TEMP_DIR = str(spool)
    seen = []
    from workspaces import uploads

    real_complete = uploads.EncryptingUploadHandler.file_complete

    def spy(self, file_size):
        seen.append(self.ciphertext.name)  # where the spooled upload lives
        return real_complete(self, file_size)

    monkeypatch.setattr(uploads.EncryptingUploadHandler, "file_complete", spy)
    client = SignedInClient(enforce_csrf_checks=True)
    client.force_login(checker)
    response = upload_with_csrf(
        client,
        "/workspaces/cardiac/datasets/new/",
        {
            "file": SimpleUploadedFile("admissions.csv", REAL_CSV.encode()),
            "name": "admissions",
            "classification": "restricted",
            "encoding": "utf-8",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert len(seen) == 1
    assert seen[0].startswith(str(spool))
    assert DatasetVersion.objects.get().row_count == 60


def test_an_upload_without_the_csrf_token_is_refused(workspace, checker):
    from tests.auth import SignedInClient

    client = SignedInClient(enforce_csrf_checks=True)
    client.force_login(checker)
    response = client.post(
        "/workspaces/cardiac/datasets/new/",
        {
            "file": SimpleUploadedFile("a.csv", b"a,b\n1,2\n"),
            "name": "sneaky",
            "classification": "internal",
            "encoding": "utf-8",
        },
    )
    assert response.status_code == 403
    assert not DatasetVersion.objects.exists()


def test_the_sample_download_is_inert_for_spreadsheets_and_never_rendered(
    client, ready_version, researcher, monkeypatch
):
    import pandas as pd

    from workspaces import selectors

    # A stand-in frame: what is under test is how the view serves it, not the synthesiser.
    frame = pd.DataFrame(
        {"ward": ['=HYPERLINK("http://evil.example/")', "<script>alert(1)</script>"],
         "diff": [-3.5, 4.0], "note": ["@SUM(A1)", "+cmd"]}
    )  # fmt: skip
    monkeypatch.setattr(selectors, "synthetic_frame", lambda sample: frame)
    client.force_login(researcher)
    response = client.get(ready_version.get_absolute_url() + "synthetic.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="admissions-v1-synthetic.csv"'
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["ward", "diff", "note"],
        ['\'=HYPERLINK("http://evil.example/")', "-3.5", "'@SUM(A1)"],
        ["<script>alert(1)</script>", "4.0", "'+cmd"],
    ]


def decisions_form_as_a_browser_sends_it(content: str) -> list[tuple[str, str]]:
    """The decisions form's fields as a browser submits them: every select with its
    selected option (else its first), and the hidden CSRF token."""
    from html.parser import HTMLParser

    class Form(HTMLParser):
        def __init__(self):
            super().__init__()
            self.inside, self.fields, self.select, self.options = False, [], None, []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "form" and attrs.get("data-testid") == "decisions":
                self.inside = True
            elif self.inside and tag == "input" and attrs.get("type") == "hidden":
                self.fields.append((attrs["name"], attrs["value"]))
            elif self.inside and tag == "select":
                self.select, self.options = attrs["name"], []
            elif self.select and tag == "option":
                self.options.append((attrs["value"], "selected" in attrs))

        def handle_endtag(self, tag):
            if tag == "select" and self.select:
                chosen = [value for value, selected in self.options if selected]
                self.fields.append((self.select, (chosen or [self.options[0][0]])[0]))
                self.select = None
            elif tag == "form":
                self.inside = False

    parser = Form()
    parser.feed(content)
    return parser.fields


def test_a_table_with_nothing_to_pseudonymise_decides_through_the_form(
    client, workspace, checker, django_capture_on_commit_callbacks
):
    """Keep every column (the Adult census data has no identifier): the version becomes
    ready. It used to stay awaiting decisions, with advice to choose again."""
    from tests.factories import census_csv, upload_of
    from workspaces import services

    version = services.ingest_dataset(
        workspace=workspace, upload=upload_of(census_csv()), by=checker, name="census"
    )
    client.force_login(checker)
    fields = decisions_form_as_a_browser_sends_it(client.get(version.get_absolute_url()).text)
    assert {value for name, value in fields if name.startswith("action-")} == {"keep"}
    with django_capture_on_commit_callbacks():
        response = client.post(version.get_absolute_url() + "decide/", dict(fields), follow=True)
    assert b"is ready" in response.content
    assert b"Choose keep" not in response.content
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY


def test_the_decisions_form_works_for_the_widest_table_allowed(
    workspace, checker, settings, django_capture_on_commit_callbacks
):
    """As many columns as TRE_MAX_COLUMNS allows (its default: this test must hold for
    the settings as they are), each with a "to ..." menu: more fields than Django takes
    by default. Posted as a browser posts it, CSRF enforced."""
    from urllib.parse import urlencode

    from tests.auth import SignedInClient
    from tests.factories import upload_of
    from workspaces import services

    width = settings.TRE_MAX_COLUMNS
    header = ",".join(f"measure_{index}" for index in range(width))
    rows = "".join(
        ",".join(str(row * index % 97) for index in range(width)) + "\n" for row in (1, 2, 3)
    )
    version = services.ingest_dataset(
        workspace=workspace, upload=upload_of(f"{header}\n{rows}"), by=checker, name="wide"
    )
    client = SignedInClient(enforce_csrf_checks=True)
    client.force_login(checker)
    fields = decisions_form_as_a_browser_sends_it(client.get(version.get_absolute_url()).text)
    assert len(fields) == 2 * width + 1 > 1_000  # Django's default limit
    with django_capture_on_commit_callbacks():
        response = client.post(
            version.get_absolute_url() + "decide/",
            urlencode(fields),
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY
    assert len(version.schema) == width


def upload_form(name: str, content: bytes) -> dict:
    return {
        "file": SimpleUploadedFile(name, content),
        "name": "big",
        "classification": "internal",
        "encoding": "utf-8",
    }


def test_a_table_over_a_limit_is_refused_on_the_upload_form(client, workspace, checker, settings):
    import pyarrow as pa
    import pyarrow.parquet as pq

    client.force_login(checker)
    settings.TRE_MAX_COLUMNS = 2
    response = client.post(
        "/workspaces/cardiac/datasets/new/", upload_form("w.csv", b"a,b,c\n1,2,3\n")
    )
    assert response.status_code == 400
    assert b"The file has 3 columns; the limit is 2 (TRE_MAX_COLUMNS)" in response.content

    settings.TRE_MAX_EXPANDED_BYTES = 1024**2
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": pa.array([0] * 1_000_000, pa.int64())}), buffer)
    response = client.post(
        "/workspaces/cardiac/datasets/new/", upload_form("small.parquet", buffer.getvalue())
    )
    assert response.status_code == 400
    assert b"at least 7.6 MiB of memory; the limit is 1.0 MiB" in response.content
    assert not DatasetVersion.objects.exists()


def test_each_columns_chart_says_its_ends_in_words_from_the_synthetic_sample(
    client, ready_version, researcher
):
    # Issue 15: a chart per column, readable without colour or hovering.
    client.force_login(researcher)
    response = client.get(ready_version.get_absolute_url() + "synthetic/")
    cards = {card["name"]: card for card in response.context["summaries"]}
    summary = ready_version.synthetic_sample.summary

    edges = summary["age"]["histogram"]["edges"]
    assert cards["age"]["axis"] == (f"{edges[0]:g}", f"{edges[-1]:g}")
    assert cards["age"]["tallest"] == max(summary["age"]["histogram"]["counts"])
    page = response.content.decode()
    assert 'data-testid="axis-age"' in page
    # Every column's chart, from the sample's own summary (never the real data's).
    for name, entry in summary.items():
        if entry.get("bars") or entry.get("histogram"):
            assert f'data-testid="axis-{name}"' in page
