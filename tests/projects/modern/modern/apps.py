from django.apps import AppConfig


class ModernConfig(AppConfig):
    name = "modern"
    verbose_name = "Modern"
