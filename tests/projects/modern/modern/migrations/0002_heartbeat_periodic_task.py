"""Schedule modern.tasks.heartbeat every 10 seconds in django-celery-beat's tables, so that beat
(CELERY_BEAT_SCHEDULER = DatabaseScheduler) runs it with no manual step after `migrate`."""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "modern heartbeat"


def create_heartbeat_task(apps, schema_editor):
    db = schema_editor.connection.alias
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    every_10_seconds, _created = IntervalSchedule.objects.using(db).get_or_create(every=10, period="seconds")
    PeriodicTask.objects.using(db).update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "modern.tasks.heartbeat",
            "interval": every_10_seconds,
            "enabled": True,
        },
    )
    # Historical models send no django-celery-beat signals: mark the schedule as changed by hand,
    # as PeriodicTasks.update_changed() does, so a beat already running reloads it.
    PeriodicTasks.objects.using(db).update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_heartbeat_task(apps, schema_editor):
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTask.objects.using(db).filter(name=TASK_NAME).delete()
    PeriodicTasks.objects.using(db).update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("modern", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_heartbeat_task, delete_heartbeat_task),
    ]
