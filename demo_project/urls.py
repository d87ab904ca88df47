"""Demo URLs: the admin, and the frontend token endpoint the embedded widget calls."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from demo_project.billing.views import accounting

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on pages that link none (Django's own admin pages).
    path("favicon.ico", RedirectView.as_view(url=static("thredfi_django/favicon.svg"))),
    path("admin/", admin.site.urls),
    path("accounting/", accounting, name="accounting"),  # tries the token endpoint
    # POST /thredfi/token/ -> {"access_token", "expires_in", "business_id"} for the user's account
    path("thredfi/", include("thredfi_django.urls")),
]
