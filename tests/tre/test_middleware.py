"""Private pages are not cached."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_signed_in_page_is_never_cached(client, workspace, researcher):
    client.force_login(researcher)
    response = client.get(f"/workspaces/{workspace.slug}/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_a_stored_file_keeps_its_own_cache_control(client, finished_job, researcher):
    client.force_login(researcher)
    output = finished_job.outputs.get()
    url = f"/workspaces/{finished_job.workspace.slug}/jobs/{finished_job.pk}/outputs/{output.pk}/"
    response = client.get(url)
    assert response["Cache-Control"] == "private, no-store"
