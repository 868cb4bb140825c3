"""Celery tasks of the demo. Without Celery installed, count_words is a plain function."""
try:
    from celery import shared_task
except ImportError:  # pragma: no cover - Celery is optional
    def shared_task(func=None, **_options):
        return func if func is not None else (lambda f: f)

from .models import Note


@shared_task
def count_words(note_id):
    """Count a note's words and store them: a write, so the router sends it to the primary."""
    note = Note.objects.get(pk=note_id)
    Note.objects.filter(pk=note_id).update(words=len(note.text.split()))
    return note_id


@shared_task(ignore_result=False)
def echo(value):
    """Returns what it was given: a result read back through the deployment's result backend."""
    return value
