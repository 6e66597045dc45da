"""Edges an attacker would try: cached live pages, a form posted from another site, requests refused with
400."""

import logging

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.web.conftest import make_account, make_policy


class TestNoStore:
    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/?size=large",
            "/disarm-all/",
            "/policies/new/",
            "/second-factor/",
            "/admin/",
            "/admin/heartbeats/countdownpolicy/",
        ],
    )
    def test_every_page_with_live_state_says_no_store(self, client, django_user_model, path):
        user = django_user_model.objects.create_superuser("sue", "sue@example.com", "a long test password 1")
        client.force_login(user)
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path

    def test_a_policy_and_an_operation_page_say_no_store(self, as_operator, db):
        policy = make_policy(make_account(), "BTCUSDT", "armed")
        assert "no-store" in as_operator.get(reverse("policy", args=[policy.pk]))["Cache-Control"]
        as_operator.post(reverse("policy_disarm", args=[policy.pk]))
        from heartbeats.models import Operation

        operation = Operation.objects.latest("at")
        assert "no-store" in as_operator.get(reverse("operation", args=[operation.pk]))["Cache-Control"]

    def test_the_sign_in_page_says_no_store(self, client, db):
        assert "no-store" in client.get(reverse("login"))["Cache-Control"]

    def test_error_pages_say_no_store(self, as_viewer):
        assert "no-store" in as_viewer.get("/policies/999/")["Cache-Control"]


class TestCsrfFromAnotherSite:
    @pytest.fixture
    def browser(self, operator):
        client = Client(enforce_csrf_checks=True)
        client.force_login(operator)
        client.get(reverse("disarm_all"))  # sets the CSRF cookie, as the page would
        return client

    def test_a_form_from_a_foreign_origin_says_so(self, browser):
        token = browser.cookies["csrftoken"].value
        response = browser.post(
            reverse("disarm_all"),
            {"reason": "x", "csrfmiddlewaretoken": token},
            HTTP_ORIGIN="https://evil.example",
        )
        assert response.status_code == 403
        html = response.content.decode()
        assert "the form came from another site" in html
        assert "https://evil.example" in html and "http://testserver" in html
        assert "missing or stale" not in html

    def test_a_foreign_origin_is_shown_escaped(self, browser):
        token = browser.cookies["csrftoken"].value
        response = browser.post(
            reverse("disarm_all"),
            {"reason": "x", "csrfmiddlewaretoken": token},
            HTTP_ORIGIN='https://evil.example"><script>alert(1)</script>',
        )
        html = response.content.decode()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html

    def test_a_missing_token_still_says_the_form_expired(self, browser):
        response = browser.post(reverse("disarm_all"), {"reason": "x"})
        assert response.status_code == 403
        assert "missing or stale" in response.content.decode()

    def test_a_missing_cookie_says_so(self, operator):
        client = Client(enforce_csrf_checks=True)
        client.force_login(operator)
        response = client.post(reverse("disarm_all"), {"reason": "x", "csrfmiddlewaretoken": "a" * 32})
        assert response.status_code == 403
        assert "sent no security cookie" in response.content.decode()


class TestBadRequestsLogOneLine:
    @pytest.fixture
    def records(self, caplog):
        caplog.set_level(logging.DEBUG)
        return caplog

    def _security(self, caplog):
        return [r for r in caplog.records if r.name.startswith("django.security.")]

    def _check_one_line_warning(self, caplog, fragment):
        found = self._security(caplog)
        assert len(found) == 1, found
        record = found[0]
        assert record.levelno == logging.WARNING
        assert record.exc_info is None and record.exc_text is None
        line = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
        assert "\n" not in line and "Traceback" not in line
        assert line.startswith("WARNING django.security.") and fragment in line
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    def test_a_bad_host_is_one_warning_line_and_no_mail(self, client, records, settings, db):
        settings.ADMINS = [("Risk desk", "risk@example.com")]
        response = client.get("/", HTTP_HOST="evil.example")
        assert response.status_code == 400
        self._check_one_line_warning(
            records, "Bad request refused (400): Invalid HTTP_HOST header: 'evil.example'"
        )
        assert mail.outbox == []

    def test_an_oversized_body_is_one_warning_line(self, client, records, settings, db):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        response = client.post(reverse("login"), {"username": "x" * 5000, "password": "y"})
        assert response.status_code == 400
        self._check_one_line_warning(records, "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE")

    def test_too_many_fields_is_one_warning_line(self, client, records, settings, db):
        settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
        response = client.post(reverse("login"), {f"f{i}": "1" for i in range(50)})
        assert response.status_code == 400
        self._check_one_line_warning(records, "DATA_UPLOAD_MAX_NUMBER_FIELDS")
