"""The frontend token endpoint: the embedded widget's getToken() gets a business-scoped token
for the logged-in user's business, and never the partner token."""

import uuid

import pytest
import requests
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import include, path

from tests.testapp.models import Account
from thredfi_django.conf import thredfi_settings
from thredfi_django.exceptions import ThredfiConfigurationError

urlpatterns = [path("thredfi/", include("thredfi_django.urls"))]
URL = "/thredfi/token/"

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def account_for_user(request, requested_id):
    """Test resolver: a user belongs to the accounts sharing their e-mail address."""
    if request.user.username == "banned":
        raise PermissionDenied
    accounts = Account.objects.filter(email=request.user.email)
    if requested_id:
        accounts = accounts.filter(pk=requested_id)
    return accounts.first()


@pytest.fixture(autouse=True)
def resolver_setting():
    with override_settings(
        THREDFI={
            **thredfi_settings.user_settings,
            "TOKEN_BUSINESS_RESOLVER": f"{__name__}.account_for_user",
        }
    ):
        yield


@pytest.fixture
def owner(client):
    user = User.objects.create_user("owner", "books@acme.example", "pw")
    client.force_login(user)
    return user


def make_account(**fields):
    fields.setdefault("legal_name", "Acme Ltd")
    fields.setdefault("email", "books@acme.example")
    return Account.objects.create(**fields)


def test_anonymous_users_get_401(client):
    response = client.post(URL)
    assert response.status_code == 401
    assert response.json()["error_code"] == "authentication_required"


def test_user_without_a_business_gets_403(client, owner):
    make_account(email="someone-else@example.com")
    response = client.post(URL)
    assert response.status_code == 403
    assert response.json()["error_code"] == "permission_denied"


def test_asking_for_someone_elses_business_gets_403(client, owner):
    make_account(thredfi_id=uuid.uuid4())
    theirs = make_account(email="other@example.com", thredfi_id=uuid.uuid4())
    response = client.post(f"{URL}?business={theirs.pk}")
    assert response.status_code == 403
    assert "do not have access" in response.json()["message"]


def test_resolver_may_raise_permission_denied(client):
    make_account(thredfi_id=uuid.uuid4())
    client.force_login(User.objects.create_user("banned", "books@acme.example"))
    assert client.post(URL).status_code == 403


def test_business_not_synced_yet_gets_409(client, owner):
    make_account()  # no thredfi_id yet
    response = client.post(URL)
    assert response.status_code == 409
    assert response.json()["error_code"] == "business_not_synced"
    assert "not been set up in Thredfi yet" in response.json()["message"]


def test_only_post_is_allowed(client, owner):
    make_account(thredfi_id=uuid.uuid4())
    assert client.get(URL).status_code == 405


def test_post_needs_the_csrf_token():
    make_account(thredfi_id=uuid.uuid4())
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_user("owner", "books@acme.example"))
    assert browser.post(URL).status_code == 403  # CSRF failure, before the view runs


def test_thredfi_unreachable_gets_503(client, owner):
    make_account(thredfi_id=uuid.uuid4())
    closed_port = {**thredfi_settings.user_settings, "BASE_URL": "http://127.0.0.1:9"}
    with override_settings(THREDFI=closed_port):
        response = client.post(URL)
    assert response.status_code == 503
    assert response.json()["error_code"] == "thredfi_unavailable"


def test_missing_resolver_setting_names_the_setting(client, owner):
    make_account(thredfi_id=uuid.uuid4())
    settings_without = {
        k: v for k, v in thredfi_settings.user_settings.items() if k != "TOKEN_BUSINESS_RESOLVER"
    }
    with override_settings(THREDFI=settings_without):
        with pytest.raises(ThredfiConfigurationError, match="TOKEN_BUSINESS_RESOLVER"):
            client.post(URL)


def test_returns_a_token_scoped_to_the_users_business(client, owner, thredfi_fake):
    partner = thredfi_settings.PARTNER_UUID
    mine = thredfi_fake.add_business(partner, legal_name="Acme Ltd")
    other = thredfi_fake.add_business(partner, legal_name="Other Ltd")
    make_account(thredfi_id=mine["id"])

    response = client.post(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "business_id"}
    assert body["business_id"] == mine["id"]
    assert 0 < body["expires_in"] <= 3600
    assert response["Cache-Control"].startswith("max-age=0")
    token = thredfi_fake.tokens.tokens[body["access_token"]]
    assert (token.kind, token.business_id) == ("business", mine["id"])
    # The token opens this business's data and no other business's.
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    base = f"{thredfi_settings.base_url}/v1/platform/businesses"
    assert requests.get(f"{base}/{mine['id']}/customers/", headers=auth).status_code == 200
    assert requests.get(f"{base}/{other['id']}/customers/", headers=auth).status_code == 403


def test_the_partner_token_never_reaches_the_browser(client, owner, thredfi_fake):
    from thredfi_django.client import get_client

    business = thredfi_fake.add_business(thredfi_settings.PARTNER_UUID)
    make_account(thredfi_id=business["id"])
    response = client.post(URL)
    assert response.status_code == 200
    partner_tokens = [t.value for t in thredfi_fake.tokens.tokens.values() if t.kind == "partner"]
    assert partner_tokens == [get_client().partner_token()]  # the one the server used
    assert partner_tokens[0] not in response.content.decode()
    assert thredfi_settings.API_KEY not in response.content.decode()


def test_the_widget_may_pick_one_of_the_users_businesses(client, owner, thredfi_fake):
    partner = thredfi_settings.PARTNER_UUID
    make_account(thredfi_id=thredfi_fake.add_business(partner)["id"])
    second_remote = thredfi_fake.add_business(partner)
    second = make_account(legal_name="Acme Two Ltd", thredfi_id=second_remote["id"])
    response = client.post(f"{URL}?business={second.pk}")
    assert response.json()["business_id"] == second_remote["id"]


def test_thredfi_errors_are_503_when_transient_and_502_otherwise(client, owner, thredfi_fake):
    business = thredfi_fake.add_business(thredfi_settings.PARTNER_UUID)
    make_account(thredfi_id=business["id"])
    thredfi_fake.fail_next(status=503)
    assert client.post(URL).status_code == 503
    assert client.post(URL).status_code == 200  # the browser may simply try again

    # A business unknown to Thredfi (e.g. deleted there): our side's problem, not the browser's.
    Account.objects.update(thredfi_id=uuid.uuid4())
    response = client.post(URL)
    assert response.status_code == 502
    assert response.json()["error_code"] == "thredfi_error"
