"""The API tokens page: key admins create a token (shown once) and revoke it, with a fresh second factor and
an audit record; everyone else reads the list, which never shows a token's value."""

import pytest
from django.urls import reverse

from heartbeats.models import Action, Operation
from heartbeats.models.tokens import ApiToken
from tests.api.conftest import ApiClient, make_token
from tests.web.test_second_factor import code_for, give_app, sign_in, verify
from tests.web.test_step_up import age_factor

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_key_admin(client, key_admin):
    client.force_login(key_admin)
    return client


def create(client, **fields):
    data = {"name": "incident runbook", "role": "operator", "allowed_addresses": "", **fields}
    return client.post(reverse("api_token_new"), data, REMOTE_ADDR="10.9.9.9")


def shown_value(response) -> str:
    return response.context["value"]


def test_a_key_admin_creates_a_token_that_is_shown_once_and_works(as_key_admin, key_admin):
    response = create(as_key_admin, allowed_addresses="10.1.2.0/24\n192.0.2.7, 2001:db8::/48")
    assert response.status_code == 200
    raw = shown_value(response)
    page = response.content.decode()
    assert f'value="{raw}"' in page and "Authorization: Bearer $CG_TOKEN" in page
    assert "no-store" in response["Cache-Control"]

    token = ApiToken.objects.get()
    assert (token.name, token.role, token.created_by, token.created_by_name) == (
        "incident runbook",
        "operator",
        key_admin,
        "kim",
    )
    assert token.allowed_addresses == ["10.1.2.0/24", "192.0.2.7/32", "2001:db8::/48"]
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not any(raw in str(value) for value in stored.values())

    op = Operation.objects.get(action=Action.TOKEN_CREATE)
    assert (op.user, op.ip, op.reason) == (key_admin, "10.9.9.9", "API token incident runbook")
    assert op.changes["role"] == [None, "operator"] and op.changes["token"] == [None, token.masked]
    assert raw not in str(op.changes) and raw not in op.reason

    listing = as_key_admin.get(reverse("api_tokens")).content.decode()
    assert "incident runbook" in listing and token.masked in listing and raw not in listing
    assert raw[3:20] not in listing

    assert ApiClient(raw, address="10.1.2.3").get("status").status_code == 200


def test_a_key_admin_revokes_a_token_and_it_stops_working(as_key_admin, key_admin):
    token, raw = make_token()
    response = as_key_admin.post(reverse("api_token_revoke", args=[token.pk]), REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 302 and response.url == reverse("api_tokens")
    token.refresh_from_db()
    assert token.revoked
    op = Operation.objects.get(action=Action.TOKEN_REVOKE)
    assert (op.user, op.ip, op.reason) == (key_admin, "10.9.9.9", "API token runbook")
    assert ApiClient(raw).get("status").status_code == 401
    # A second revoke changes nothing and is not audited again.
    as_key_admin.post(reverse("api_token_revoke", args=[token.pk]))
    assert Operation.objects.filter(action=Action.TOKEN_REVOKE).count() == 1
    assert "revoked" in as_key_admin.get(reverse("api_tokens")).content.decode()
    assert as_key_admin.post(reverse("api_token_revoke", args=["999"])).status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "This field is required"),
        ({"name": "<script>"}, "Use letters, digits"),
        ({"role": "superuser"}, "Select a valid choice"),
        ({"allowed_addresses": "10.0.0.300"}, "Not an address or network: 10.0.0.300"),
        ({"allowed_addresses": "10.1.2.3/24"}, "did you mean 10.1.2.0/24?"),
        ({"allowed_addresses": "example.com"}, "Not an address or network"),
    ],
)
def test_bad_input_is_refused_with_nothing_created(as_key_admin, fields, message):
    response = create(as_key_admin, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()
    assert not Operation.objects.filter(action=Action.TOKEN_CREATE).exists()


def test_names_are_unique_even_after_a_revoke(as_key_admin):
    token, _ = make_token("incident runbook")
    token.revoke()
    response = create(as_key_admin, name="Incident Runbook")
    assert response.status_code == 400 and "exists already" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_viewers_and_operators_read_the_list_but_cannot_create_or_revoke(client, viewer, operator):
    token, raw = make_token()
    for person in (viewer, operator):
        client.force_login(person)
        page = client.get(reverse("api_tokens"))
        assert page.status_code == 200
        html = page.content.decode()
        assert "runbook" in html and raw not in html
        assert 'id="token-form"' not in html and "data-revoke-token" not in html
        assert create(client, name="mine").status_code == 403
        assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 403
    token.refresh_from_db()
    assert not token.revoked and ApiToken.objects.count() == 1
    assert not Operation.objects.filter(action__in=[Action.TOKEN_CREATE, Action.TOKEN_REVOKE]).exists()


def test_people_without_a_role_see_nothing(client, outsider):
    assert client.get(reverse("api_tokens")).status_code == 302  # to sign in
    client.force_login(outsider)
    assert client.get(reverse("api_tokens")).status_code == 403


def test_the_header_links_to_it_for_exactly_the_roles_it_opens_for(
    client, django_user_model, viewer, operator, key_admin, outsider
):
    superuser = django_user_model.objects.create_superuser("sue", "sue@example.com", "a long password 1")
    link = f'href="{reverse("api_tokens")}"'
    seen = {}
    for person in (viewer, operator, key_admin, outsider, superuser):
        client.force_login(person)
        header = client.get(reverse("second_factor")).content.decode()  # a page every signed-in person opens
        seen[person.username] = (link in header, client.get(reverse("api_tokens")).status_code)
    assert seen == {
        "victor": (True, 200),
        "olga": (True, 200),
        "kim": (True, 200),
        "otto": (False, 403),
        "sue": (True, 200),
    }


def test_the_header_links_only_to_pages_the_person_may_open(client, viewer, outsider):
    pages = ("board", "maintenance", "strategies", "alerts", "api_tokens")
    for person, expected in ((viewer, 200), (outsider, 403)):
        client.force_login(person)
        header = client.get(reverse("second_factor")).content.decode().split("<nav")[1].split("</nav>")[0]
        for name in pages:
            linked = f'href="{reverse(name)}"' in header
            assert linked == (expected == 200), (person.username, name)
            assert client.get(reverse(name)).status_code == expected, (person.username, name)


def test_a_stale_second_factor_refuses_create_and_revoke(client, key_admin):
    device = give_app(key_admin)
    sign_in(client, key_admin)
    assert verify(client, code_for(device)).status_code == 302
    token, _ = make_token()
    page = client.get(reverse("api_tokens")).content.decode()
    assert 'id="token-form"' in page and "data-revoke-token" in page
    age_factor(client, 301)
    page = client.get(reverse("api_tokens")).content.decode()
    assert 'id="token-form"' not in page and 'id="give-second-factor"' in page
    for response in (create(client, name="other"), client.post(reverse("api_token_revoke", args=[token.pk]))):
        assert response.status_code == 403
        assert "Nothing was changed" in response.content.decode()
    token.refresh_from_db()
    assert not token.revoked and ApiToken.objects.count() == 1
