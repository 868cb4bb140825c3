"""`manage.py schedule_task NAME TASK --every SECONDS [--args JSON] [--disable]`: create or update
a periodic task in the database (django_celery_beat), which beat runs when it uses the
DatabaseScheduler. Safe to run on every deploy: it prints "created", "updated" or "unchanged"
(and what changed), and an unchanged task is not written, so beat does not reload its schedule.

    manage.py schedule_task probe notes.tasks.count_words --every 5 --args '[1]'
"""
import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask


class Command(BaseCommand):
    help = "Create or update a periodic task (django_celery_beat) that runs every N seconds."

    def add_arguments(self, parser):
        parser.add_argument("name", help="unique name of the periodic task")
        parser.add_argument("task", help="dotted name of the Celery task, e.g. notes.tasks.count_words")
        parser.add_argument("--every", type=int, required=True, help="interval in seconds (>= 1)")
        parser.add_argument("--args", dest="task_args", default="[]", help="positional arguments of the task, a JSON list")
        parser.add_argument("--disable", action="store_true", help="keep the task but do not run it")

    def handle(self, *args, name, task, every, task_args, disable, **options):
        if every < 1:
            raise CommandError(f"--every must be at least 1 second (got {every})")
        try:
            parsed = json.loads(task_args)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--args is not JSON: {exc}") from exc
        if not isinstance(parsed, list):
            raise CommandError(f"--args must be a JSON list (got {task_args})")

        with transaction.atomic():
            # IntervalSchedule has no unique constraint: reuse the first matching row.
            interval = (IntervalSchedule.objects.filter(every=every, period=IntervalSchedule.SECONDS).order_by("pk").first()
                        or IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS))
            wanted = {"task": task, "interval": interval, "crontab": None, "solar": None, "clocked": None,
                      "args": json.dumps(parsed), "enabled": not disable}
            periodic = PeriodicTask.objects.select_for_update().filter(name=name).first()
            if periodic is None:
                PeriodicTask.objects.create(name=name, **wanted)
                self.stdout.write(f"created: {name} runs {task}({json.dumps(parsed)[1:-1]}) every {every} s")
                return
            changed = [field for field, value in wanted.items()
                       if (json.loads(periodic.args) != parsed if field == "args" else getattr(periodic, field) != value)]
            if not changed:
                self.stdout.write(f"unchanged: {name}")
                return
            for field in changed:
                setattr(periodic, field, wanted[field])
            periodic.save()  # also tells a running DatabaseScheduler to reload its schedule
            self.stdout.write(f"updated: {name} ({', '.join(changed)})")
