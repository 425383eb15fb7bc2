"""Production mode refuses unsafe settings; each case starts a fresh interpreter."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 64


def load_settings(**env):
    clean = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TRE_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", "import tre.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS)"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def test_development_defaults_are_safe_and_local():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert "True ['127.0.0.1', 'localhost', '[::1]']" in result.stdout


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "tre.example.org"}, "DJANGO_SECRET_KEY must be set"),
        (
            {"DJANGO_ALLOWED_HOSTS": "tre.example.org", "DJANGO_SECRET_KEY": "short"},
            "DJANGO_SECRET_KEY must be set",
        ),
        (
            {
                "DJANGO_ALLOWED_HOSTS": "tre.example.org",
                "DJANGO_SECRET_KEY": GOOD_KEY,
                "DJANGO_DEBUG": "true",
            },
            "DJANGO_DEBUG must be off",
        ),
        ({"DJANGO_SECRET_KEY": GOOD_KEY}, "DJANGO_ALLOWED_HOSTS must name"),
    ],
)
def test_production_refuses_unsafe_settings(env, complaint):
    result = load_settings(DJANGO_ENV="production", **env)
    assert result.returncode != 0
    assert "Refusing to start in production mode" in result.stderr
    assert complaint in result.stderr


SAFE = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": GOOD_KEY,
    "DJANGO_ALLOWED_HOSTS": "tre.example.org",
    "TRE_MASTER_KEY_FILE": "/run/secrets/tre-master-key",
    "TRE_AUDIT_KEY_FILE": "/run/secrets/tre-audit-key",
}


def test_production_starts_with_safe_settings():
    result = load_settings(**SAFE)
    assert result.returncode == 0, result.stderr
    assert "False ['tre.example.org']" in result.stdout


def test_production_refuses_to_run_without_a_master_key():
    result = load_settings(**{**SAFE, "TRE_MASTER_KEY_FILE": ""})
    assert result.returncode != 0
    assert "set TRE_MASTER_KEY or TRE_MASTER_KEY_FILE" in result.stderr


def test_production_refuses_to_run_without_an_audit_key():
    result = load_settings(**{**SAFE, "TRE_AUDIT_KEY_FILE": ""})
    assert result.returncode != 0
    assert "set TRE_AUDIT_KEY or TRE_AUDIT_KEY_FILE" in result.stderr


def test_dataset_storage_must_be_local_or_s3():
    result = load_settings(TRE_DATASET_STORAGE="ftp")
    assert result.returncode != 0
    assert "TRE_DATASET_STORAGE must be 'local' or 's3'" in result.stderr


def test_a_malformed_boolean_is_an_error_not_a_guess():
    result = load_settings(DJANGO_DEBUG="perhaps")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_the_data_directory_is_its_owners_alone(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    clean = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c", "import tre.settings"],
        cwd=ROOT, env={**clean, "TRE_DATA_DIR": str(data)}, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert data.stat().st_mode & 0o777 == 0o700
    database = data / "db.sqlite3"
    assert database.stat().st_mode & 0o777 == 0o600


def test_the_database_and_its_journal_files_are_their_owners_alone(tmp_path):
    data = tmp_path / "data"
    clean = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    # A permissive umask, as a careless shell has: the files must not follow it.
    result = subprocess.run(
        ["sh", "-c", f"umask 022 && {sys.executable} manage.py migrate --no-input"],
        cwd=ROOT, env={**clean, "TRE_DATA_DIR": str(data)}, capture_output=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = {path.name: path.stat().st_mode & 0o777 for path in data.iterdir() if path.is_file()}
    assert "db.sqlite3" in files
    assert all(mode == 0o600 for mode in files.values()), files


def test_check_deploy_is_clean_in_production(tmp_path):
    clean = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TRE_"))
    }
    env = {
        **clean,
        **SAFE,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "TRE_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "sqlite:///:memory:",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(("value", "acl"), [(None, "private"), ("", "None")])
def test_s3_objects_are_private_and_buckets_without_acls_can_say_so(value, acl):
    clean = {name: text for name, text in os.environ.items() if not name.startswith("TRE_")}
    env = {**clean, "TRE_DATASET_STORAGE": "s3"}
    if value is not None:
        env["TRE_S3_DEFAULT_ACL"] = value
    result = subprocess.run(
        [sys.executable, "-c",
         "import tre.settings as s; print(s.STORAGES['datasets']['OPTIONS']['default_acl'])"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == acl
