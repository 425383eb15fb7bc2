import pytest


@pytest.mark.django_db
def test_health_reports_ok_without_revealing_anything(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
