import socket

from django import forms
from django.conf import settings
from django.db import router
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from .models import Note
from .tasks import count_words


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["text"]


def index(request):
    """Recent notes (a read: the router may send it to a replica) and a form that writes one
    (a write: always the primary). The summary is a template fragment cached for a minute."""
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        note = form.save()
        if getattr(settings, "CELERY_BROKER_URL", ""):
            count_words.delay(note.pk)
        else:
            count_words(note.pk)
        return redirect("index")
    notes = Note.objects.all()[:10]
    context = {
        "form": form,
        "notes": notes,
        "read_from": notes.db,
        "write_to": router.db_for_write(Note),
        # A callable: the template calls it only when the cached fragment has to be rendered.
        "note_count": Note.objects.count,
        "hostname": socket.gethostname(),
        "version": settings.VERSION,
        "cache_backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
    }
    return render(request, "notes/index.html", context)


class UploadForm(forms.Form):
    file = forms.FileField()


def upload(request):
    """A file upload, saved to MEDIA_ROOT by Django's default storage; answers the URL it is
    served at (by nginx, not Django). Off (404) unless the deployment asks for it with the setting
    DEMO_UPLOADS (anyone may upload: a test page, not for a public site) and sets MEDIA_ROOT."""
    if not getattr(settings, "DEMO_UPLOADS", False) or not settings.MEDIA_ROOT:
        raise Http404("uploads are off in this deployment")
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        name = default_storage.save(f"uploads/{form.cleaned_data['file'].name}", form.cleaned_data["file"])
        return HttpResponse(default_storage.url(name), content_type="text/plain", status=201)
    return render(request, "notes/upload.html", {"form": form}, status=400 if request.method == "POST" else 200)
