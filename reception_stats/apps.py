from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReceptionStatsConfig(AppConfig):
    name = "reception_stats"
    verbose_name = _("Reception statistics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate, pre_save

        from . import checks  # noqa: F401  (registers the system checks)
        from .accounts import connect_signals
        from .aggregates import register_sqlite_functions
        from .db import install_bounds
        from .models import RECYCLIC_MODELS, refuse_raw_save
        from .screens import connect_signals as screen_signals

        connection_created.connect(register_sqlite_functions)
        connection_created.connect(install_bounds, dispatch_uid="reception-stats-bounds")
        connect_signals()
        screen_signals()
        post_migrate.connect(name_permission_in_the_projects_language, sender=self)
        # The mapped models' saves are refused here rather than in save(): fixtures (`loaddata`)
        # call Model.save_base() directly, past save(), and the signal stops them too.
        for model in RECYCLIC_MODELS:
            pre_save.connect(refuse_raw_save, sender=model, dispatch_uid=f"rs-refuse-{model}")


def name_permission_in_the_projects_language(sender: AppConfig, using: str, **kwargs) -> None:
    """Store the permission's name in the project's language (LANGUAGE_CODE).

    Django writes permission names as the model declares them, untranslated, and the admin
    shows them from the database: without this a French admin lists "Can view the live
    reception statistics" among French names.
    """
    from django.apps import apps
    from django.conf import settings
    from django.utils import translation

    if not apps.is_installed("django.contrib.auth"):
        return
    from django.contrib.auth.models import Permission

    from .models import LiveStats

    codename, name = LiveStats._meta.permissions[0]
    with translation.override(settings.LANGUAGE_CODE):
        translated = str(name)
    Permission.objects.using(using).filter(
        content_type__app_label=sender.label, codename=codename
    ).exclude(name=translated).update(name=translated[:255])
