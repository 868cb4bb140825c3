"""The demo's own health check, listed in DJANGO_DEPLOY_HEALTH_CHECKS (demo/settings.py).

django_deploy.stack's health endpoint calls it after its own database check, on every load
balancer check and before a rolling deploy puts a host back into rotation: a release whose
check raises is never given traffic.
"""
from .models import Note


def check():
    """The notes table can be read on the primary: this release's migrations are applied."""
    Note.objects.using("default").exists()
