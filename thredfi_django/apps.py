from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from . import telemetry


class ThredfiDjangoConfig(AppConfig):
    name = "thredfi_django"
    verbose_name = _("Thredfi")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: they import models, which need the app registry.
        from . import checks  # noqa: F401  (registers the system checks)
        from .recording import receivers  # models: needs the app registry

        receivers.connect_all()
        telemetry.connect()
