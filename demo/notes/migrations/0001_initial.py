from django.db import migrations, models


def first_note(apps, schema_editor):
    Note = apps.get_model("notes", "Note")
    Note.objects.using(schema_editor.connection.alias).create(text="Hello from the first migration", words=5)


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.CharField(max_length=200)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("words", models.PositiveIntegerField(blank=True, null=True)),
            ],
            options={"ordering": ["-created"]},
        ),
        migrations.RunPython(first_note, migrations.RunPython.noop),
    ]
