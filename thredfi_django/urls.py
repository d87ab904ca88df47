"""URLs for the frontend token endpoint: ``path("thredfi/", include("thredfi_django.urls"))``."""

from django.urls import path

from .views import BusinessTokenView

app_name = "thredfi_django"

urlpatterns = [
    path("token/", BusinessTokenView.as_view(), name="business-token"),
]
