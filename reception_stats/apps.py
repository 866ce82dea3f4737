from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceptionStatsConfig(AppConfig):
    name = "reception_stats"
    verbose_name = _("Reception statistics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import pre_save

        from . import checks  # noqa: F401  (registers the system checks)
        from .accounts import connect_signals
        from .aggregates import register_sqlite_functions
        from .db import install_bounds
        from .models import RECYCLIC_MODELS, refuse_raw_save

        connection_created.connect(register_sqlite_functions)
        connection_created.connect(install_bounds, dispatch_uid="reception-stats-bounds")
        connect_signals()
        # The mapped models' saves are refused here rather than in save(): fixtures (`loaddata`)
        # call Model.save_base() directly, past save(), and the signal stops them too.
        for model in RECYCLIC_MODELS:
            pre_save.connect(refuse_raw_save, sender=model, dispatch_uid=f"rs-refuse-{model}")
