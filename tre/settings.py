"""Settings for the TRE, all read from the environment.

Defaults are safe for development on one machine (SQLite, DEBUG on, loopback only).
`DJANGO_ENV=production` switches to a mode that refuses to start with a default secret
key, with DEBUG on or without ALLOWED_HOSTS.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    return [item.strip() for item in value.split(",") if item.strip()] or default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


ENVIRONMENT = os.environ.get("DJANGO_ENV", "development").lower()
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'")
IS_PRODUCTION = ENVIRONMENT == "production"

# Everything the portal writes (SQLite database, uploaded and derived files) lives
# here unless a setting points elsewhere; git ignores it.
DATA_DIR = Path(os.environ.get("TRE_DATA_DIR", BASE_DIR / "var")).resolve()

# The development key is public (it is in this file); production refuses it.
DEVELOPMENT_SECRET_KEY = "development-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", default=not IS_PRODUCTION)
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

if IS_PRODUCTION:
    problems = []
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("DJANGO_SECRET_KEY must be set to a random value of 50+ characters")
    if DEBUG:
        problems.append("DJANGO_DEBUG must be off")
    if not ALLOWED_HOSTS:
        problems.append("DJANGO_ALLOWED_HOSTS must name the portal's host names")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start in production mode: " + "; ".join(problems) + "."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    # Sign-in: allauth's accounts and MFA (TOTP, WebAuthn, recovery codes); axes
    # limits failed attempts; csp sends the Content-Security-Policy.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
    "csp",
    # The JSON API (api/, docs/api.md); ninja brings its Swagger UI as static files.
    "ninja",
    "tre",
    "accounts",
    "workspaces",
    "jobs",
    "privacy",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before the session is read: the API's routes take a token, never a cookie.
    "api.middleware.TokensOnly",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "tre.audit.AuditContextMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After the audit context (its sign-outs are audited with the client's address),
    # before anything that serves a page: an expired or half-signed-in session sees none.
    "accounts.middleware.SignInPolicyMiddleware",
    "tre.middleware.PrivatePagesMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

if IS_PRODUCTION:
    # gunicorn serves the collected static files itself; in development runserver does.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "tre.urls"
WSGI_APPLICATION = "tre.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "builtins": ["tre.templatetags.permissions"],
        },
    },
]

# SQLite by default; DATABASE_URL (postgres://user@host:5432/name) for anything shared.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The data directory holds the database, the key file and the encrypted files: its
    # owner's alone (0700), whatever the umask made it.
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    DATA_DIR.chmod(0o700)
    # Its files the owner's alone too (0600). SQLite gives its -wal and -shm files the
    # database file's mode, so making that file first, private, covers all three.
    _sqlite_file = Path(DATABASES["default"]["NAME"])
    if _sqlite_file.parent == DATA_DIR:
        os.close(os.open(_sqlite_file, os.O_CREAT | os.O_WRONLY, 0o600))
        _sqlite_file.chmod(0o600)
    # The web process and the Celery worker write to the same file: IMMEDIATE
    # transactions and WAL avoid "database is locked" on lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    # A file (not :memory:) so a Celery worker process started by the tests can
    # open the same test database.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("TRE_TEST_SQLITE_PATH", str(DATA_DIR / "test-db.sqlite3"))
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account or address is refused before its password is tried.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No guardian "AnonymousUser" row: anonymous visitors have no object permissions here.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "workspaces:list"
LOGOUT_REDIRECT_URL = "account_login"

# Sign-in (docs/security.md, "Signing in"). Accounts are made by admins: no sign-up,
# usernames, and a second factor for everyone, enrolled at the first sign-in.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[TRE] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if IS_PRODUCTION else "http"
MFA_ADAPTER = "accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_FORMS = {
    "authenticate": "accounts.forms.SecondFactorForm",
    "reauthenticate": "accounts.forms.SecondFactorReauthenticateForm",
}
MFA_TOTP_ISSUER = os.environ.get("TRE_MFA_ISSUER", "TRE")
MFA_PASSKEY_LOGIN_ENABLED = False
# Security keys check the page's origin (phishing-proof): https, or http://localhost in
# development (not 127.0.0.1: WebAuthn refuses IP addresses).
MFA_RECOVERY_CODE_COUNT = 10
# A code from the 30 seconds before or after counts too: phones' clocks drift.
MFA_TOTP_TOLERANCE = 1
# Sessions: an idle and an absolute limit (accounts.middleware), whatever the cookie says.
TRE_SESSION_IDLE_SECONDS = env_int("TRE_SESSION_IDLE_SECONDS", 30 * 60)
TRE_SESSION_ABSOLUTE_SECONDS = env_int("TRE_SESSION_SECONDS", 8 * 3600)

# The JSON API (docs/api.md): each personal API token may make this many requests a
# minute; more are answered 429 with Retry-After (accounts.tokens counts them).
TRE_API_REQUESTS_PER_MINUTE = env_int("TRE_API_REQUESTS_PER_MINUTE", 120)

# Failed sign-ins (a wrong password or a wrong second-factor code): after 5 for one
# username, or 5 from one address, both are refused until the cool-off ends or an
# admin deletes the lock (Axes > Access attempts).
AXES_FAILURE_LIMIT = env_int("TRE_SIGN_IN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("TRE_SIGN_IN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_address"
AXES_VERBOSE = False
# django-axes is the one limit on failed sign-ins (audited, unlocked by an admin), for
# passwords and codes alike; allauth's own counter would answer first, unaudited.
ACCOUNT_RATE_LIMITS = {"login_failed": None}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TZ_NAME", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Beside the code, not in DATA_DIR: static files belong to a release (the Docker image
# collects them at build time), while DATA_DIR is a volume that outlives releases.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(DATA_DIR / "media"),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    # Encrypted dataset files, under random names. A local directory by default; with
    # web and workers on several machines, S3-compatible object storage they all reach.
    "datasets": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(DATA_DIR / "datasets"),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
    if os.environ.get("TRE_DATASET_STORAGE", "local") == "local"
    else {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("TRE_S3_BUCKET", ""),
            "endpoint_url": os.environ.get("TRE_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("TRE_S3_REGION") or None,
            "access_key": os.environ.get("TRE_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("TRE_S3_SECRET_ACCESS_KEY") or None,
            "location": "datasets",
            # Buckets with ACLs disabled (AWS's default since 2023) refuse any ACL: set
            # TRE_S3_DEFAULT_ACL empty there; the bucket's policy keeps objects private.
            "default_acl": os.environ.get("TRE_S3_DEFAULT_ACL", "private") or None,
            "file_overwrite": False,
        },
    },
}
if os.environ.get("TRE_DATASET_STORAGE", "local") not in {"local", "s3"}:
    raise ImproperlyConfigured("TRE_DATASET_STORAGE must be 'local' or 's3'")

# Encryption at rest: the master key wraps every data key. TRE_MASTER_KEY (base64 of 32
# bytes) or a key file; in development a key file is created in DATA_DIR on first use.
TRE_MASTER_KEY_FILE = os.environ.get("TRE_MASTER_KEY_FILE", str(DATA_DIR / "master.key"))
if IS_PRODUCTION and not (
    os.environ.get("TRE_MASTER_KEY") or os.environ.get("TRE_MASTER_KEY_FILE")
):
    raise ImproperlyConfigured(
        "Refusing to start in production mode: set TRE_MASTER_KEY or TRE_MASTER_KEY_FILE."
    )
# The audit trail's chain is an HMAC under this key, kept outside the database like the
# master key: TRE_AUDIT_KEY (base64 of 32 bytes) or a key file, made in development.
TRE_AUDIT_KEY_FILE = os.environ.get("TRE_AUDIT_KEY_FILE", str(DATA_DIR / "audit.key"))
if IS_PRODUCTION and not (os.environ.get("TRE_AUDIT_KEY") or os.environ.get("TRE_AUDIT_KEY_FILE")):
    raise ImproperlyConfigured(
        "Refusing to start in production mode: set TRE_AUDIT_KEY or TRE_AUDIT_KEY_FILE."
    )
# Scratch space for ciphertext on its way to storage; never holds plaintext.
TRE_TEMP_DIR = os.environ.get("TRE_TEMP_DIR") or None

# Dataset uploads: the size limit, and the synthetic sample's size and privacy guards.
TRE_MAX_UPLOAD_BYTES = env_int("TRE_MAX_UPLOAD_BYTES", 2 * 1024**3)
TRE_SYNTHETIC_ROWS = env_int("TRE_SYNTHETIC_ROWS", 5000)
TRE_SYNTHETIC_RARE_THRESHOLD = env_int("TRE_SYNTHETIC_RARE_THRESHOLD", 10)
# How large a table may be, checked before anything is stored (workspaces.tabular). The
# decided table is loaded whole: by the worker that builds its synthetic sample, and by
# every job (pandas, inside TRE_JOB_MEMORY_BYTES, 4 GiB by default). So its decoded size
# is held to half of that, room for the job's own copies; rows to 10 million, which
# bounds what the byte count leaves out (pandas keeps text as one object per value, the
# synthesiser ranks every column); columns to 1,000, the most a steward can review one by
# one on the decisions page.
TRE_MAX_COLUMNS = env_int("TRE_MAX_COLUMNS", 1_000)
TRE_MAX_ROWS = env_int("TRE_MAX_ROWS", 10_000_000)
TRE_MAX_EXPANDED_BYTES = env_int("TRE_MAX_EXPANDED_BYTES", 2 * 1024**3)
# The decisions form posts up to two fields per column, and Django refuses a request of
# more than DATA_UPLOAD_MAX_NUMBER_FIELDS; the widest table allowed must fit.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1_000, 2 * TRE_MAX_COLUMNS + 100)
# The largest script a job may run (jobs.services). Django must read a script a little
# over it, so that the form, not a bare 400, says it is too large: the editor sends
# line ends as CRLF, up to twice the bytes. Larger posts get the form back all the same
# (jobs.views.job_new), without the text.
TRE_MAX_SCRIPT_BYTES = env_int("TRE_MAX_SCRIPT_BYTES", 1024**2)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(5 * 1024**2 // 2, 2 * TRE_MAX_SCRIPT_BYTES + 256 * 1024)
# Uploads always go to a temporary file on disk, encrypted as they arrive
# (workspaces.uploads), never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 0

# How many reverse proxies sit in front of the portal; the audit trail takes the
# client address from X-Forwarded-For only that many hops deep, never blindly.
TRE_TRUSTED_PROXY_COUNT = env_int("TRE_TRUSTED_PROXY_COUNT", 0)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = TRE_SESSION_ABSOLUTE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("TRE_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # HTTPS only, and browsers told to remember it for a year (`check --deploy` clean).
    SECURE_SSL_REDIRECT = env_bool("TRE_SSL_REDIRECT", True)
    # Health probes come from inside the deployment, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = env_int("TRE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TRE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("TRE_HSTS_PRELOAD", True)

# No inline script or style anywhere, the admin's included: a script injected into a
# page (a release item's name, say) cannot run. htmx's own indicator style is off
# (templates/base.html) and the QR code of TOTP enrolment is a data: image.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if IS_PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "tre@localhost")
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
# The portal's address as people reach it, for links in e-mails.
TRE_PORTAL_URL = os.environ.get("TRE_PORTAL_URL", "http://127.0.0.1:8000").rstrip("/")

# Celery: Redis as broker and result store. redis+socket:///path/to/redis.sock works
# for the embedded server that `dev.py` starts.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_RESULT_EXPIRES = 24 * 3600
# A task is acknowledged only once it finished, and goes back to the queue if its
# worker dies: the database, not the broker, says whether work was done.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("TRE_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# Jobs: two queues, so dry runs stay fast while real runs are busy; workers on other
# machines can serve either (they need the same storage and master key settings).
TRE_DRY_RUN_QUEUE = "dry_runs"
TRE_REAL_RUN_QUEUE = "real_runs"
CELERY_TASK_QUEUES_ALL = ["default", TRE_DRY_RUN_QUEUE, TRE_REAL_RUN_QUEUE]
# Where a run's output directory lives during the run: a memory file system (/dev/shm
# by default), never a disk; a worker refuses to run a job otherwise (jobs.workdirs).
# Inputs never have a file name at all. What dead runs left is swept this often.
TRE_JOB_DIR = os.environ.get("TRE_JOB_DIR") or None
TRE_JOB_SWEEP_SECONDS = env_int("TRE_JOB_SWEEP_SECONDS", 60)
# Each worker process keeps one sandbox started ahead of its next job, Python and the
# libraries scripts use already imported (jobs.sandbox.WarmSandbox): a dry run's result
# in a tenth of a second instead of half of one. It costs the memory of one idle
# interpreter per worker process (some 150 MB).
TRE_WARM_SANDBOX = env_bool("TRE_WARM_SANDBOX", True)
TRE_JOB_HEARTBEAT_TIMEOUT = env_int("TRE_JOB_HEARTBEAT_TIMEOUT", 60)
# Sandbox limits for every job (names as in jobs.sandbox.Limits); a workspace may
# override them (Workspace.job_limits, in the admin).
TRE_JOB_LIMITS = {
    "cpu_seconds": env_int("TRE_JOB_CPU_SECONDS", 600),
    "memory_bytes": env_int("TRE_JOB_MEMORY_BYTES", 4 * 1024**3),
    "processes": env_int("TRE_JOB_PROCESSES", 64),
    "open_files": env_int("TRE_JOB_OPEN_FILES", 256),
    "file_bytes": env_int("TRE_JOB_FILE_BYTES", 512 * 1024**2),
    "output_bytes": env_int("TRE_JOB_OUTPUT_BYTES", 1024**3),
    "wall_seconds": env_int("TRE_JOB_WALL_SECONDS", 1800),
    "log_bytes": env_int("TRE_JOB_LOG_BYTES", 1024**2),
    "output_files": env_int("TRE_JOB_OUTPUT_FILES", 20),
}
# Real-data runs each researcher may submit in any 24 hours: the default of a new
# workspace (Workspace.real_runs_per_day). It bounds the eyes-off channels' total.
TRE_REAL_RUNS_PER_DAY = env_int("TRE_REAL_RUNS_PER_DAY", 20)
# The airlock: how many output checkers must approve a release, and the disclosure
# checks' thresholds (names as in jobs.disclosure.Thresholds), by classification tier.
TRE_RELEASE_APPROVALS = {"public": 1, "internal": 1, "confidential": 2, "restricted": 2}
TRE_DISCLOSURE_THRESHOLDS = {
    "public": {"min_cell_count": 5},
    "internal": {"min_cell_count": 10},
    "confidential": {"min_cell_count": 10},
    "restricted": {"min_cell_count": 20},
}

CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {
        "task": "jobs.tasks.reap_stale_jobs_task",
        "schedule": float(env_int("TRE_REAPER_INTERVAL", 30)),
    },
    "requeue-private-questions": {
        "task": "privacy.tasks.requeue_unanswered_task",
        "schedule": float(env_int("TRE_REAPER_INTERVAL", 30)),
    },
}
# Questions answered with differential privacy read the real data on a worker, outside
# any sandbox (no script runs): on the platform's own queue, so that a long real run
# never delays an answer.
TRE_PRIVACY_QUEUE = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TRE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Every sign-in event is in the audit trail already; axes would log each again.
        "axes": {"level": "WARNING"},
    },
}
