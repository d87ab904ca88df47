"""Settings for the demo partner platform, all overridable from the environment.

Runs with no server at all by default: SQLite and a filesystem Celery broker under var/, and the
fake Thredfi server that ``manage.py rundemo`` starts on 127.0.0.1. Point it at real services with
DATABASE_URL (postgres://...), CELERY_BROKER_URL (redis://...) and, for the real Thredfi sandbox,
THREDFI_PARTNER_UUID + THREDFI_API_KEY + THREDFI_BASE_URL (then no fake is started).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

#: Everything the demo writes (database, broker messages, cache, beat schedule). DEMO_VAR_DIR lets
#: the demo's own test run in a temporary directory.
VAR_DIR = Path(env("DEMO_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="demo-only-not-secret")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "thredfi_django",
    "demo_project.billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'demo.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server and the worker write at the same time: wait for the lock instead of failing,
    # take it up front (IMMEDIATE) so two writers never deadlock, and let readers run (WAL).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL;"
    )

# Thredfi tokens are cached here and shared by the web server and the worker, so the cache must
# be shared between processes: files by default, Redis with CACHE_URL=redis://...
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # No broker server needed: messages are files under var/broker. Poll every 0.2 s so an
    # invoice saved in the admin shows as synced about a second later.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # Re-enqueues pending objects whose task was lost (e.g. the broker was down at save time).
    "thredfi-sweep-pending": {
        "task": "thredfi_django.sweep_pending",
        "schedule": env.float("THREDFI_SWEEP_EVERY", default=30.0),
    },
    # Reads back statuses and amounts changed in Thredfi (it sends no webhooks).
    "thredfi-pull-remote": {
        "task": "thredfi_django.pull_remote",
        "schedule": env.float("THREDFI_PULL_EVERY", default=300.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Thredfi ----------------------------------------------------------------------------------
#: Credentials the local fake server accepts (rundemo starts it with these). Not secrets.
DEMO_PARTNER_UUID = "6f1d2c3b-4a5e-4f60-8d7c-9b0a1e2f3d4c"
DEMO_API_KEY = "demo-api-key-not-secret"
#: Where rundemo starts the fake Thredfi server when THREDFI_BASE_URL is not set.
DEMO_FAKE_HOST = "127.0.0.1"
DEMO_FAKE_PORT = env.int("DEMO_FAKE_PORT", default=8765)
#: True when THREDFI_BASE_URL is not given: rundemo then runs the fake Thredfi server.
DEMO_USE_FAKE_THREDFI = not env("THREDFI_BASE_URL", default="")

THREDFI = {
    "PARTNER_UUID": env("THREDFI_PARTNER_UUID", default=DEMO_PARTNER_UUID),
    "API_KEY": env("THREDFI_API_KEY", default=DEMO_API_KEY),
    "BASE_URL": env("THREDFI_BASE_URL", default=f"http://{DEMO_FAKE_HOST}:{DEMO_FAKE_PORT}"),
    "EXTERNAL_ID_NAMESPACE": env("THREDFI_EXTERNAL_ID_NAMESPACE", default="demo"),
    # Which account's accounting a logged-in user may open (see billing/thredfi.py).
    "TOKEN_BUSINESS_RESOLVER": "demo_project.billing.thredfi.account_for_user",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    # propagate=False: the Celery worker also logs through the root logger (no double lines).
    "loggers": {"thredfi_django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
