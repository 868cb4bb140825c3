"""The demo project's own settings: fine for `manage.py runserver` on a laptop (SQLite, local
memory cache). django_deploy.stack imports them and overrides databases, caches, the broker,
secrets and hosts in a settings module of its own."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = (BASE_DIR / "VERSION").read_text(encoding="utf-8").strip()

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-only-for-local-development")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    # Periodic tasks kept in the database, for beat's DatabaseScheduler (celery beat --scheduler
    # django_celery_beat.schedulers:DatabaseScheduler). Without that option beat keeps using
    # CELERY_BEAT_SCHEDULE and its own schedule file, and these tables stay empty.
    "django_celery_beat",
    "notes",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]
WSGI_APPLICATION = "demo.wsgi.application"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed file names (site.3f2a...css), so nginx may let browsers cache them for a year.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# Checks the deployed health endpoint runs besides its database check (each raises when unfit).
DJANGO_DEPLOY_HEALTH_CHECKS = ["notes.health.check"]

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_IGNORE_RESULT = True
# A backend the stack does not run, as projects often default to: the deployment replaces it.
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
