"""WES Portal settings: every value comes from the environment; defaults make a first run work.

See docs/configuration.md for the full list. With DJANGO_DEBUG off the portal refuses to start on
the development secret key, the development storage credentials or the development audit key.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.dev_defaults import (
    DEV_AUDIT_KEY_SECRET,
    DEV_AUDIT_KEYS,
    DEV_SECRET_KEY,
    DEV_STORAGE_ACCESS_KEY,
    DEV_STORAGE_SECRET_KEY,
)
from common.env import (env_bool, env_cron, env_int, env_keys, env_list, env_rate, env_secret,
                        env_str)
from portal.storage_settings import (  # noqa: F401 (settings: Django reads this module's names)
    MINIO_ACCESS_KEY, MINIO_BUCKET_ARCHIVES, MINIO_BUCKET_INTERMEDIATE, MINIO_BUCKET_LOGS,
    MINIO_BUCKET_RAW, MINIO_BUCKET_REFERENCE, MINIO_BUCKET_RESULTS, MINIO_ENDPOINT,
    MINIO_PUBLIC_ENDPOINT, MINIO_REGION, MINIO_SECRET_KEY, MINIO_SECURE, STORAGES,
    STORAGE_PRESIGNED_EXPIRY_SECONDS, STORAGE_TIMEOUT_SECONDS, STORAGE_UPLOAD_ORIGINS)
from jobs.runs.compute import (cluster_options_setting, memory_setting, slurm_name_setting,
                               time_setting)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WES_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "portal.admin_site.PortalAdminConfig",   # django.contrib.admin, with the portal's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "django_htmx",
    "django_q",
    "storages",
    "portal",
    "tenants",
    "storage",
    "jobs",
]

MIDDLEWARE = [
    "portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.headers.PolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.headers.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.middleware.SessionLimitsMiddleware",
    "portal.middleware.MfaRequiredMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "tenants.context_processors.current_lab",
            ],
        },
    },
]

# Database: PostgreSQL in production and CI; SQLite only for a newcomer's first run.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    # One test database per test process, so two suites on one server never trample each other.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # IMMEDIATE takes the write lock when a transaction starts, so the audit chain's
            # read-last-hash-then-insert cannot interleave between two writers.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            # A file, not shared-cache memory: threads in tests then wait for the write lock
            # (busy timeout) instead of failing with "table is locked".
            "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and queue: Redis when REDIS_URL is set; the database otherwise (shared between the web
# and worker processes, which allauth's rate limits and django-q2's statistics need).
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Short socket timeouts, so a Redis that hangs is noticed quickly and the cache falls back.
    CACHES = {"default": {"BACKEND": "common.cache.RedisCacheWithFallback", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "wes_cache"}}

QUEUE_TASK_TIMEOUT = env_int("WES_QUEUE_TIMEOUT", 6 * 3600, minimum=60)
Q_CLUSTER = {
    "name": env_str("WES_QUEUE_NAME", "wes"),
    "workers": env_int("WES_QUEUE_WORKERS", 2, minimum=1),
    # The longest task is a pipeline run, so the timeout is the longest run allowed; django-q2
    # requires retry > timeout, or a long task is handed to a second worker. A crashed cluster's
    # fetched tasks come back only after `retry`, so nothing waits for it: the reaper re-queues
    # runs, verifications and draft reports after the waits above (docs/operations.md).
    "timeout": QUEUE_TASK_TIMEOUT,
    "retry": QUEUE_TASK_TIMEOUT + 600,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Authentication: allauth for lab members (email + password, invitation only); the admin
# login goes through allauth too, so its rate limits cover staff.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_ADAPTER = "tenants.adapters.InvitationOnlyAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_DISPLAY = "tenants.adapters.user_display"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
ACCOUNT_SESSION_REMEMBER = False
# allauth's defaults stay on (login, signup, password reset, confirmation emails); failed logins
# are limited per IP and per account *from that IP* (the adapter adds the address to the account
# key), so an attacker elsewhere cannot lock a user out.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("WES_LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/300s/key"),
}
# Wrong passwords or codes when signing out a report, per user, before sign-out is refused.
REPORT_REAUTH_RATE_LIMIT = env_str("WES_REPORT_REAUTH_RATE_LIMIT", "5/900s/key")
# How many proxies in front of the portal append to X-Forwarded-For (0: the peer address is the
# client). Rate limits, the audit log and the sessions page all read the address this way.
TRUSTED_PROXY_HOPS = env_int("WES_TRUSTED_PROXY_HOPS", 0, minimum=0)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "tenants:lab_picker"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("WES_MFA_ISSUER", "WES Portal")
MFA_ADAPTER = "tenants.adapters.RequiredMfaAdapter"
USERSESSIONS_ADAPTER = "tenants.adapters.AuditedUserSessionsAdapter"
# Who must use an authenticator app: lab roles ("manager", "clinician") and "staff" (staff and
# superusers). Everyone else may enrol voluntarily.
MFA_REQUIRED_ROLES = env_list("WES_MFA_REQUIRED_ROLES", ["manager", "staff"])
if unknown_roles := set(MFA_REQUIRED_ROLES) - {"manager", "clinician", "staff"}:
    raise ImproperlyConfigured(f"WES_MFA_REQUIRED_ROLES: unknown {sorted(unknown_roles)}; "
                               "use manager, clinician, staff")

# Sessions end after this long without a request, and this long after sign-in whatever happens.
SESSION_IDLE_SECONDS = env_int("WES_SESSION_IDLE_SECONDS", 15 * 60, minimum=120)
SESSION_MAX_SECONDS = env_int("WES_SESSION_MAX_SECONDS", 12 * 3600, minimum=300)
# The session row's expiry date: the idle limit, plus the minute for which activity is not written
# (tenants/session_limits.py). The cookie itself ends with the browser (ACCOUNT_SESSION_REMEMBER).
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS + 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool(
    "DJANGO_BEHIND_TLS_PROXY", False) else None
X_FRAME_OPTIONS = "DENY"
# Behind TLS (production): HSTS for a year and HTTP redirected to HTTPS, unless turned off here;
# /healthz stays reachable over plain HTTP for probes on the machine.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Asking browsers to preload HSTS for the lab's domain is its owner's decision (hstspreload.org,
# slow to undo), not a default: the check that suggests it is silenced, the setting stays.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND",
                        "django.core.mail.backends.console.EmailBackend" if DEBUG
                        else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("DJANGO_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "WES Portal <wes-portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Who hears about a broken audit hash chain (and Django's own error mails): "a@x.org,b@x.org".
ADMINS = [("", email) for email in env_list("DJANGO_ADMINS", [])]
# Where users reach the portal: links in emails sent by the worker (which has no request).
WES_PUBLIC_URL = env_str("WES_PUBLIC_URL", "http://127.0.0.1:8000/")

# Object storage (MINIO_*, STORAGE_*, STORAGES): portal/storage_settings.py.

# Nothing leaves the portal's own origin but storage's (portal.headers.PolicyMiddleware adds it to
# connect-src and form-action); the uploader's SHA-256 runs as WebAssembly ('wasm-unsafe-eval');
# style attributes (Django's admin) need 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [SELF],
    "script-src": [SELF, "'wasm-unsafe-eval'"],
    "style-src": [SELF, "'unsafe-inline'"],
    "img-src": [SELF, "data:"],
    "connect-src": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
    "base-uri": [SELF],
    "object-src": [NONE],
}}
HEALTH_TIMEOUT_SECONDS = env_int("WES_HEALTH_TIMEOUT_SECONDS", 2, minimum=1)
# /healthz names what failed (and the database type, S3 address, paths) to staff and to probes
# sending this bearer token; everyone else sees only which parts are up.
HEALTH_TOKEN = env_secret("WES_HEALTH_TOKEN", "")
UPLOAD_PART_URL_SECONDS = env_int("WES_UPLOAD_PART_URL_SECONDS", 900, minimum=60)
UPLOAD_MIN_PART_BYTES = env_int("WES_UPLOAD_MIN_PART_BYTES", 16 * 1024**2, minimum=5 * 1024**2)
MAX_FASTQ_BYTES = env_int("WES_MAX_FASTQ_BYTES", 50 * 1024**3, minimum=1024)
FASTQ_MAX_COMPRESSION_RATIO = env_int("WES_FASTQ_MAX_COMPRESSION_RATIO", 25, minimum=2)
# Pipeline runs.
PIPELINE_WORK_DIR = Path(env_str("WES_WORK_DIR", str(VAR_DIR / "work")))
PIPELINE_RUNNER = env_str("WES_PIPELINE_RUNNER", "auto")       # auto | local | nextflow
if PIPELINE_RUNNER not in {"auto", "local", "nextflow"}:
    raise ImproperlyConfigured(f"WES_PIPELINE_RUNNER={PIPELINE_RUNNER!r}: use auto, local or nextflow")
NEXTFLOW_PROFILE = env_str("WES_NEXTFLOW_PROFILE", "standard")
# --- Compute on Slurm --- (jobs/runs/compute.py; docs/operations.md, "Compute on Slurm")
# Ceilings no task may ask more than (Nextflow's process.resourceLimits; any profile), the Slurm
# partition, account and extra sbatch options, and how many tasks one run may have queued. Unset:
# the pipeline's defaults. The slurm profile needs the three ceilings: its tasks would otherwise
# ask for what no node has and wait in the queue for ever.
SLURM_QUEUE = slurm_name_setting("WES_SLURM_QUEUE", env_str("WES_SLURM_QUEUE"))
SLURM_ACCOUNT = slurm_name_setting("WES_SLURM_ACCOUNT", env_str("WES_SLURM_ACCOUNT"))
SLURM_CLUSTER_OPTIONS = cluster_options_setting("WES_SLURM_CLUSTER_OPTIONS",
                                                env_str("WES_SLURM_CLUSTER_OPTIONS"))
SLURM_MAX_CPUS = env_int("WES_SLURM_MAX_CPUS", None, minimum=1)
SLURM_MAX_MEMORY = memory_setting("WES_SLURM_MAX_MEMORY", env_str("WES_SLURM_MAX_MEMORY"))
SLURM_MAX_TIME = time_setting("WES_SLURM_MAX_TIME", env_str("WES_SLURM_MAX_TIME"))
NEXTFLOW_QUEUE_SIZE = env_int("WES_NEXTFLOW_QUEUE_SIZE", None, minimum=1)
_unset_ceilings = [name for name, value in (("WES_SLURM_MAX_CPUS", SLURM_MAX_CPUS),
                                            ("WES_SLURM_MAX_MEMORY", SLURM_MAX_MEMORY),
                                            ("WES_SLURM_MAX_TIME", SLURM_MAX_TIME)) if not value]
if "slurm" in NEXTFLOW_PROFILE.split(",") and PIPELINE_RUNNER != "local" and _unset_ceilings:
    raise ImproperlyConfigured(
        f"WES_NEXTFLOW_PROFILE={NEXTFLOW_PROFILE!r} runs tasks on Slurm: set "
        f"{', '.join(_unset_ceilings)} to what your largest node (and the partition's time limit) "
        "allows, e.g. WES_SLURM_MAX_CPUS=16 WES_SLURM_MAX_MEMORY=60G WES_SLURM_MAX_TIME=24h "
        "(`sinfo -o '%P %c %m %l'`); a task asking for more would never start")
# A run starts only with this much free space in WES_WORK_DIR beyond three times its reads;
# failed runs' folders (what -resume needs) are kept this many days.
WORK_MIN_FREE_BYTES = env_int("WES_WORK_MIN_FREE_BYTES", 2 * 1024**3, minimum=0)
KEEP_FAILED_WORK_DAYS = env_int("WES_KEEP_FAILED_WORK_DAYS", 7, minimum=0)
REFERENCE_BUILD = env_str("WES_REFERENCE_BUILD", "wes-mini")
JOB_LEASE_SECONDS = env_int("WES_JOB_LEASE_SECONDS", 120, minimum=10)
JOB_MAX_ATTEMPTS = env_int("WES_JOB_MAX_ATTEMPTS", 3, minimum=1)
# How long a worker waits for a database that does not answer before it gives up the step.
DB_PATIENCE_SECONDS = env_int("WES_DB_PATIENCE_SECONDS", 300, minimum=0)
# The reaper (every minute) completes what a lost or held task left: a queued job no worker took,
# a verification that stalled, a succeeded job without its draft report. These are its waits.
REQUEUE_AFTER_SECONDS = env_int("WES_REQUEUE_AFTER_SECONDS", 300, minimum=10)
VERIFY_REQUEUE_AFTER_SECONDS = env_int("WES_VERIFY_REQUEUE_AFTER_SECONDS", 300, minimum=10)
DRAFT_RETRY_AFTER_SECONDS = env_int("WES_DRAFT_RETRY_AFTER_SECONDS", 120, minimum=10)
# Retention: a succeeded job's hot files are archived (verified tar.gz) after this many days,
# and the archive is purged this many days after it was written, unless a legal hold stops it.
ARCHIVE_AFTER_DAYS = env_int("WES_ARCHIVE_AFTER_DAYS", 90, minimum=1)
ARCHIVE_RETENTION_DAYS = env_int("WES_ARCHIVE_RETENTION_DAYS", 7 * 365, minimum=1)
ARCHIVE_PART_BYTES = env_int("WES_ARCHIVE_PART_BYTES", 16 * 1024**2, minimum=5 * 1024**2)
# The audit chain: each event's chain value is an HMAC-SHA256 under the current key, kept outside
# the database; old keys stay listed so the rows they chained still verify (docs/operations.md,
# "Audit chain: key, checkpoints, roles"). Checkpoints of the chain go to the logs bucket under
# S3 Object Lock retention.
AUDIT_KEYS = env_keys("WES_AUDIT_KEYS", DEV_AUDIT_KEYS)
AUDIT_KEY_ID = env_str("WES_AUDIT_KEY_ID", next(iter(AUDIT_KEYS)) if len(AUDIT_KEYS) == 1 else "")
if AUDIT_KEY_ID not in AUDIT_KEYS:
    raise ImproperlyConfigured(
        f"WES_AUDIT_KEY_ID={AUDIT_KEY_ID!r} names no key in WES_AUDIT_KEYS (ids: "
        f"{', '.join(AUDIT_KEYS) or 'none'}); with several keys, WES_AUDIT_KEY_ID picks the "
        "current one")
AUDIT_CHECKPOINT_LOCK_MODE = env_str("WES_AUDIT_CHECKPOINT_LOCK_MODE", "COMPLIANCE").upper()
if AUDIT_CHECKPOINT_LOCK_MODE not in {"COMPLIANCE", "GOVERNANCE"}:
    raise ImproperlyConfigured(f"WES_AUDIT_CHECKPOINT_LOCK_MODE={AUDIT_CHECKPOINT_LOCK_MODE!r}: "
                               "use COMPLIANCE or GOVERNANCE")
AUDIT_CHECKPOINT_RETENTION_DAYS = env_int("WES_AUDIT_CHECKPOINT_RETENTION_DAYS", 7 * 365,
                                          minimum=1)
# Plain (no-JavaScript) uploads are written to a temporary file, never held in memory; each
# file keeps the name the browser sent, which the forms judge (jobs/intake/file_names.py).
FILE_UPLOAD_HANDLERS = ["jobs.intake.file_names.SentNameUploadHandler",
                        "django.core.files.uploadhandler.TemporaryFileUploadHandler"]


# Static files, i18n, logging.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production runs `collectstatic` into DJANGO_STATIC_ROOT; without it WhiteNoise serves the files
# straight from the source folders, so a first run needs no build step.
STATIC_ROOT = env_str("DJANGO_STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = STATIC_ROOT is None
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("WES_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

def _refusal_in_one_line(record) -> bool:
    """Django logs an expected refusal (a 403 from PermissionDenied, a 400 from a bad request)
    at WARNING with the exception's traceback. The refusal is the code working: one line with
    its reason, and tracebacks stay for the 5xx that are not."""
    if getattr(record, "status_code", 500) < 500 and record.exc_info:
        reason = str(record.exc_info[1])
        if reason:
            record.msg, record.args = f"{record.msg} (%s)", (*record.args, reason)
        record.exc_info = record.exc_text = None
    return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"refusal_in_one_line": {"()": lambda: _refusal_in_one_line}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("WES_LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"},
                "django.request": {"filters": ["refusal_in_one_line"]}},
}

# --- metrics ---
# /metrics (Prometheus) answers requests from these addresses or networks ("10.0.0.5,
# 10.1.0.0/16"; the client address as WES_TRUSTED_PROXY_HOPS reads it) and requests sending
# `Authorization: Bearer $WES_METRICS_TOKEN`; anyone else gets the ordinary 404. Neither set: no
# one. PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself) sums the per-process counters
# of every process on the machine (docs/operations.md, "Metrics and alerts").
METRICS_TOKEN = env_secret("WES_METRICS_TOKEN", "")


def _networks(name: str) -> list:
    import ipaddress

    try:
        return [ipaddress.ip_network(entry, strict=False) for entry in env_list(name, [])]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}; list addresses or networks such as "
                                   "10.0.0.5,10.1.0.0/16") from None


METRICS_ALLOWED_IPS = _networks("WES_METRICS_ALLOWED_IPS")
MIDDLEWARE = ["portal.metrics.RequestMetricsMiddleware", *MIDDLEWARE]
# Prometheus on the machine or the internal network may scrape over plain HTTP (send the token
# only over HTTPS).
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^metrics$"]


# --- Backup and restore (issue 15) ---
# `manage.py backup` writes a set (database dump, every bucket's object versions, a manifest of
# keys, versions and SHA-256s) to WES_BACKUP_TARGET: a directory, an rclone remote
# ("name:path", configured in rclone.conf or RCLONE_CONFIG_NAME_* variables) or s3://bucket/path
# (rclone's RCLONE_S3_* variables name the endpoint and keys). The schedule is a cron line;
# after each backup only the newest WES_BACKUP_KEEP complete sets are kept. An empty target
# turns the scheduled backup off (the schedule runs and says so).
BACKUP_TARGET = env_str("WES_BACKUP_TARGET")
BACKUP_SCHEDULE = env_cron("WES_BACKUP_SCHEDULE", "30 1 * * *")
BACKUP_KEEP = env_int("WES_BACKUP_KEEP", 7, minimum=1)
# Where a set for a remote target is assembled before rclone copies it (needs room for one set).
BACKUP_STAGING_DIR = env_str("WES_BACKUP_STAGING_DIR")
BACKUP_RCLONE = env_str("WES_BACKUP_RCLONE", "rclone")
# --- storage credentials (storage/credentials.py, storage/policies.py) ---
# One key pair per role, each with only its rights; a role without keys of its own uses
# MINIO_ACCESS_KEY / MINIO_SECRET_KEY, so a single-key installation keeps working.
STORAGE_ROLES = ("web", "worker", "records", "admin")
WES_STORAGE_ROLE = env_str("WES_STORAGE_ROLE", "admin")
if WES_STORAGE_ROLE not in STORAGE_ROLES:
    raise ImproperlyConfigured(f"WES_STORAGE_ROLE={WES_STORAGE_ROLE!r}: use one of "
                               f"{', '.join(STORAGE_ROLES)}")
MINIO_ROLE_KEYS: dict[str, tuple[str, str]] = {}
for _role in STORAGE_ROLES:
    _access = env_secret(f"MINIO_{_role.upper()}_ACCESS_KEY")
    _secret = env_secret(f"MINIO_{_role.upper()}_SECRET_KEY")
    if bool(_access) != bool(_secret):
        raise ImproperlyConfigured(f"set both MINIO_{_role.upper()}_ACCESS_KEY and "
                                   f"MINIO_{_role.upper()}_SECRET_KEY, or neither")
    if _access:
        MINIO_ROLE_KEYS[_role] = (_access, _secret)
    if not DEBUG and DEV_STORAGE_SECRET_KEY in (_access, _secret):
        raise ImproperlyConfigured(f"MINIO_{_role.upper()}_SECRET_KEY is the development default")
# The django-q2 cluster that runs the records tasks (archive, purge, reconciliation), started as
# `Q_CLUSTER_NAME=<name> WES_STORAGE_ROLE=records manage.py qcluster`; empty: every cluster runs
# them, and its worker needs the records key too.
WES_RECORDS_CLUSTER = env_str("WES_RECORDS_CLUSTER", "")
if WES_RECORDS_CLUSTER:
    Q_CLUSTER["ALT_CLUSTERS"] = {WES_RECORDS_CLUSTER: {}}


def _refuse_development_defaults() -> None:
    problems = []
    if SECRET_KEY == DEV_SECRET_KEY:
        problems.append("DJANGO_SECRET_KEY is the development default")
    if MINIO_ACCESS_KEY == DEV_STORAGE_ACCESS_KEY or MINIO_SECRET_KEY == DEV_STORAGE_SECRET_KEY:
        problems.append("MINIO_ACCESS_KEY / MINIO_SECRET_KEY are the development defaults")
    if DEV_AUDIT_KEY_SECRET in AUDIT_KEYS.values():
        problems.append("WES_AUDIT_KEYS holds the development audit chain key (set WES_AUDIT_KEYS "
                        "or WES_AUDIT_KEYS_FILE to id:secret with a secret of your own)")
    short = [key_id for key_id, secret in AUDIT_KEYS.items() if len(secret) < 32]
    if short:
        problems.append(f"the audit chain key(s) {', '.join(short)} in WES_AUDIT_KEYS are shorter "
                        "than 32 characters")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DJANGO_DEBUG off: " + "; ".join(problems)
            + ". Set real values (or their *_FILE variants), or DJANGO_DEBUG=true for development."
        )


if not DEBUG:
    _refuse_development_defaults()

# --- storage scrub (storage/scrub.py) ---
# When the scheduled scrub runs (a cron expression in WES_TIME_ZONE; "off" for none), applied to
# django-q2's schedule by `manage.py migrate`; and how many objects each scheduled run re-reads
# (0: all of them).
SCRUB_SCHEDULE = env_cron("WES_SCRUB_SCHEDULE", "45 3 * * *", off_allowed=True)
SCRUB_SAMPLE = env_int("WES_SCRUB_SAMPLE", 1000, minimum=0)

# --- API (issue 16): personal access tokens and /api/v1/ (docs/api.md) ---
# Calls per token per window ("N/second|minute|hour|day"), counted in the cache.
API_RATE_LIMIT = env_rate("WES_API_RATE_LIMIT", "600/minute")
MIDDLEWARE += ["portal.api.middleware.ApiMiddleware"]
INSTALLED_APPS += ["ninja"]   # /api/v1/docs from the portal's own static files (no CDN; CSP 'self')
