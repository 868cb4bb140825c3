from django.shortcuts import render

from .models import Heartbeat


def home(request):
    return render(
        request,
        "modern/home.html",
        {
            "heartbeat_count": Heartbeat.objects.count(),
            "latest_heartbeat": Heartbeat.objects.first(),
        },
    )
