"""/me, /workspaces, a workspace's datasets and their synthetic samples."""

import csv
import hashlib
import io
from datetime import datetime, timedelta

import pytest

from tests.api.conftest import ROOT, ApiClient, make_token
from tests.factories import admissions_csv, upload_of
from tre.models import AuditEvent
from workspaces import services

pytestmark = pytest.mark.django_db

DATASETS = ROOT + "/workspaces/cardiac/datasets"
SAMPLE = DATASETS + "/admissions/sample.csv"


def test_me_names_the_user_and_the_token(researcher):
    from accounts.tokens import create_token

    token, plaintext = create_token(
        user=researcher, by=researcher, name="laptop", scope="read", days=7
    )
    body = ApiClient(plaintext).get(ROOT + "/me").json()
    expires_at = datetime.fromisoformat(body["token"].pop("expires_at"))
    assert body == {"username": "rae", "token": {"name": "laptop", "scope": "read"}}
    assert abs(expires_at - token.expires_at) < timedelta(milliseconds=1)


def test_workspaces_are_the_users_memberships_with_their_roles(
    researcher, outsider, owner, workspace, other_workspace
):
    from tests.factories import MembershipFactory

    MembershipFactory(workspace=other_workspace, user=owner, roles=["owner", "researcher"])
    assert ApiClient(make_token(owner, "read")).get(ROOT + "/workspaces").json() == [
        {"slug": "cardiac", "name": "Cardiac study", "roles": ["owner"]},
        {"slug": "oncology", "name": "Oncology study", "roles": ["owner", "researcher"]},
    ]
    assert ApiClient(make_token(outsider, "read")).get(ROOT + "/workspaces").json() == [
        {
            "slug": "oncology",
            "name": "Oncology study",
            "roles": ["owner", "researcher", "output_checker"],
        }
    ]


def test_a_superuser_sees_only_the_workspaces_they_belong_to(site_admin, workspace):
    assert ApiClient(make_token(site_admin, "read")).get(ROOT + "/workspaces").json() == []
    assert ApiClient(make_token(site_admin, "read")).get(DATASETS).status_code == 404


@pytest.fixture
def awaiting_version(ready_version, checker, django_capture_on_commit_callbacks):
    """Version 2 of the dataset, uploaded but not decided: its data steward's alone."""
    with django_capture_on_commit_callbacks():
        return services.ingest_dataset(
            workspace=ready_version.dataset.workspace,
            dataset=ready_version.dataset,
            upload=upload_of(admissions_csv(40, seed=11)),
            by=checker,
        )


def test_datasets_show_the_versions_the_portal_shows(
    ready_version, awaiting_version, researcher, checker
):
    as_researcher = ApiClient(make_token(researcher, "read")).get(DATASETS).json()
    assert [dataset["name"] for dataset in as_researcher] == ["admissions"]
    [version] = as_researcher[0]["versions"]
    assert version["number"] == 1
    assert version["status"] == "ready"
    assert version["row_count"] == 60
    assert version["sample_ready"] is True
    assert {"name": "ward", "kind": "string"} in version["columns"]
    assert [column["name"] for column in version["columns"]] == [
        column["name"] for column in ready_version.schema
    ]
    # The data steward who decides it sees the upload awaiting decisions too.
    as_steward = ApiClient(make_token(checker, "read")).get(DATASETS).json()
    assert [(v["number"], v["status"], v["sample_ready"]) for v in as_steward[0]["versions"]] == [
        (1, "ready", True),
        (2, "awaiting_decisions", False),
    ]


def test_an_owner_who_is_not_a_researcher_sees_no_datasets(owner, ready_version):
    response = ApiClient(make_token(owner, "read")).get(DATASETS)
    assert response.status_code == 403
    assert "datasets" in response.json()["detail"]


def test_the_sample_is_the_portals_download_with_its_checksum(client, researcher, ready_version):
    response = ApiClient(make_token(researcher, "read")).get(SAMPLE)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="admissions-v1-synthetic.csv"'
    assert response["X-Checksum-SHA256"] == hashlib.sha256(response.content).hexdigest()
    client.force_login(researcher)
    portal = client.get(f"/workspaces/cardiac/datasets/{ready_version.dataset_id}/v1/synthetic.csv")
    assert response.content == portal.content
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) == ready_version.synthetic_sample.row_count + 1
    assert (
        AuditEvent.objects.filter(action="synthetic_sample.downloaded", actor=researcher).count()
        == 2
    )  # the API's and the portal's


def test_the_sample_of_a_named_version(researcher, ready_version):
    client = ApiClient(make_token(researcher, "read"))
    assert client.get(SAMPLE + "?version=1").content == client.get(SAMPLE).content


@pytest.mark.parametrize(
    "path",
    [
        SAMPLE + "?version=2",  # undecided: not there for a researcher
        SAMPLE + "?version=9",
        DATASETS + "/no-such-dataset/sample.csv",
        ROOT + "/workspaces/oncology/datasets/admissions/sample.csv",
    ],
)
def test_a_sample_not_there_for_this_user_is_a_404(researcher, awaiting_version, path):
    response = ApiClient(make_token(researcher, "read")).get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_bad_version_number_names_the_field(researcher, ready_version):
    response = ApiClient(make_token(researcher, "read")).get(SAMPLE + "?version=two")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("version:")
