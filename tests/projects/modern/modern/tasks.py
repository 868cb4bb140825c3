from celery import shared_task

from .models import Heartbeat


@shared_task()
def add(x, y):
    """A task with no side effect: proves a worker answers."""
    return x + y


@shared_task()
def heartbeat():
    """Scheduled by beat from the database (see migration 0002): one row per run."""
    return Heartbeat.objects.create(source="beat").pk
