"""Where the audit key comes from: like the master key, never from the database."""

import base64
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from tre import vault


@pytest.fixture
def audit_key_file(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("TRE_AUDIT_KEY", raising=False)
    settings.TRE_AUDIT_KEY_FILE = str(tmp_path / "keys" / "audit.key")
    vault.audit_key.cache_clear()
    yield tmp_path / "keys" / "audit.key"
    vault.audit_key.cache_clear()


def test_development_makes_a_private_key_file_on_first_use(audit_key_file):
    key = vault.audit_key()
    assert len(key) == 32
    assert stat.S_IMODE(audit_key_file.stat().st_mode) == 0o600
    vault.audit_key.cache_clear()
    assert vault.audit_key() == key
    assert key != vault.master_key()


def test_a_key_file_made_by_another_process_first_is_used(audit_key_file):
    audit_key_file.parent.mkdir()
    vault.write_private_file(audit_key_file, vault.generate_master_key())
    with pytest.raises(FileExistsError):
        vault.write_private_file(audit_key_file, "another")
    assert vault.audit_key() == base64.urlsafe_b64decode(audit_key_file.read_text())


def test_the_environment_wins_over_the_file(audit_key_file, monkeypatch):
    value = vault.generate_master_key()
    monkeypatch.setenv("TRE_AUDIT_KEY", value)
    assert vault.audit_key() == base64.urlsafe_b64decode(value)
    assert not audit_key_file.exists()


def test_production_refuses_a_missing_key_file(audit_key_file, settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match=r"The audit key file .* does not exist"):
        vault.audit_key()
    assert not audit_key_file.exists()


@pytest.mark.parametrize(
    ("value", "complaint"),
    [("not base64!", "not valid base64"), (base64.urlsafe_b64encode(b"short").decode(), "32")],
)
def test_a_malformed_key_is_a_clear_error(audit_key_file, monkeypatch, value, complaint):
    monkeypatch.setenv("TRE_AUDIT_KEY", value)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        vault.audit_key()
