from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceptionStatsConfig(AppConfig):
    name = "reception_stats"
    verbose_name = _("Reception statistics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401  (registers the system checks)
        from .aggregates import register_sqlite_functions

        connection_created.connect(register_sqlite_functions)
