from django.db import models


class Heartbeat(models.Model):
    """One row per run of the periodic heartbeat task (or any other source)."""

    created = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.source} at {self.created:%Y-%m-%d %H:%M:%S}"
