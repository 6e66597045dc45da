import pytest
from django.conf import settings
from django.urls import reverse

from heartbeats.domain import privileges
from heartbeats.models import Action, Operation
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client, username, password=PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_it_shows_the_sign_in_page(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_it_signs_in_and_lands_on_the_board(client, viewer):
    response = _sign_in(client, "victor")
    assert response.status_code == 302 and response.url == reverse("board")
    assert client.get(reverse("board")).status_code == 200


def test_it_audits_sign_in_and_sign_out(client, viewer):
    _sign_in(client, "victor")
    client.post(reverse("logout"))
    actions = list(
        Operation.objects.exclude(action__in=privileges.ACTIONS)
        .order_by("at")
        .values_list("action", flat=True)
    )
    assert actions == [Action.SIGN_IN, Action.SIGN_OUT]


def test_it_says_when_the_password_is_wrong(client, viewer):
    response = _sign_in(client, "victor", "wrong password")
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_it_locks_sign_in_after_repeated_failures(client, viewer):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "victor", "wrong password")
    response = _sign_in(client, "victor")  # even the right password is refused now
    html = response.content.decode()
    assert response.status_code == 429
    assert "Sign-in locked" in html and "victor" in html
    assert "_auth_user_id" not in client.session


def test_it_signs_out_with_post_only(as_viewer):
    assert as_viewer.get(reverse("logout")).status_code == 405
    response = as_viewer.post(reverse("logout"))
    assert response.status_code == 302
    assert as_viewer.get(reverse("board")).status_code == 302


def test_it_sends_a_signed_in_user_from_the_sign_in_page_to_the_board(as_viewer):
    response = as_viewer.get(reverse("login"))
    assert response.status_code == 302 and response.url == reverse("board")


@pytest.mark.parametrize(
    "name,args",
    [
        ("board", []),
        ("status_json", []),
        ("policy", [1]),
        ("disarm_all", []),
        ("operation", [1]),
        ("operation_json", [1]),
    ],
)
def test_it_asks_anonymous_visitors_to_sign_in_everywhere(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
