"""Test settings: SQLite and an in-memory broker unless the environment says otherwise.

DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/thredfi) and CELERY_BROKER_URL
(e.g. redis://127.0.0.1:6379/15) switch the suite onto real services; .ci/run does both.
"""

import environ

env = environ.Env()

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "thredfi_django",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///:memory:")}
if (
    DATABASES["default"]["ENGINE"].endswith("sqlite3")
    and DATABASES["default"]["NAME"] != ":memory:"
):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = DATABASES["default"]["NAME"] + ".test"

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://thredfi-tests"),
}

STATIC_URL = "/static/"
# Invoice and bill PDFs (tests/testapp) are kept in memory: nothing is written to disk.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
# tests/fixtures/real_services.py gives each pytest run a queue of its own (here and in the worker
# it starts), so parallel runs sharing one Redis database never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

THREDFI = {
    "PARTNER_UUID": "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10",
    "API_KEY": "test-api-key-not-secret",
    "BASE_URL": env("THREDFI_BASE_URL", default="https://sandbox.thredfi.com"),
    "EXTERNAL_ID_NAMESPACE": "tests",
    # Publish drain kicks from the after-commit callback, not a thread: tests that capture
    # tasks see them at once.
    "DRAIN_KICK": "inline",
    # The benchmarks try other values through the environment.
    "DRAIN_HTTP_CONCURRENCY": env.int("THREDFI_DRAIN_HTTP_CONCURRENCY", default=4),
    "DRAIN_BATCH": env.int("THREDFI_DRAIN_BATCH", default=100),
    "TOKEN_REFRESH_MARGIN": env.float("THREDFI_TOKEN_REFRESH_MARGIN", default=300),
    "TOKEN_REFRESH_JITTER": env.float("THREDFI_TOKEN_REFRESH_JITTER", default=0.1),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"thredfi_django": {"handlers": ["console"], "level": "WARNING"}},
}

CELERY_BEAT_SCHEDULE = {
    "thredfi-sweep": {"task": "thredfi_django.sweep_pending", "schedule": 60.0},
}
