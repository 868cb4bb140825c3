"""Apply pending Django migrations once, serialized by a PostgreSQL advisory lock.

Usage, as the application with its environment: python django_deploy_migrate.py LOCK_KEY [--check]
Two operators (or two hosts) running it at once take turns; the second finds nothing to apply.
Prints "applied N: ..." or "nothing to apply", and appends what it applied to ~/migrations.log.
With --check (Ansible's check mode) it applies nothing and prints "would apply N: ..." instead.
"""
import datetime
import os
import socket
import sys

import django


def main():
    key = int(sys.argv[1])
    check = "--check" in sys.argv[2:]
    django.setup()
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[DEFAULT_DB_ALIAS]
    locked = connection.vendor == "postgresql" and not check
    if locked:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            print("django_deploy_migrate: nothing to apply")
            return 0
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        if check:
            print(f"django_deploy_migrate: would apply {len(names)}: {' '.join(names)}")
            return 0
        call_command("migrate", interactive=False, verbosity=1)
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with open(os.path.expanduser("~/migrations.log"), "a", encoding="utf-8") as log:
            log.write(f"{stamp} {socket.gethostname()} {os.path.basename(os.getcwd())} {' '.join(names)}\n")
        print(f"django_deploy_migrate: applied {len(names)}: {' '.join(names)}")
        return 0
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


if __name__ == "__main__":
    sys.exit(main())
