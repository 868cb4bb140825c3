"""The demo project of django_deploy.stack: small, but every tier of the stack shows on its page."""
try:
    from .celery import app as celery_app
except ImportError:  # Celery is optional: the web tier runs without it
    celery_app = None

__all__ = ("celery_app",)
