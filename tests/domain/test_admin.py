"""The admin, role by role: who may see and change what, write-only keys, immutable operations, audit rows."""

import logging

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.domain import audit, privileges
from heartbeats.models import Action, Beat, CountdownPolicy, Effect, ExchangeAccount, Operation

from .conftest import PASSWORD, make_account, make_policy, new_api_key, new_hmac_secret
from .test_account_form import form_data

pytestmark = pytest.mark.django_db

ADMIN_IP = "203.0.113.50"


def url(model, view, *args):
    return reverse(f"admin:heartbeats_{model}_{view}", args=args)


@pytest.fixture
def as_user(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def records(db):
    """An account, a disarmed policy, an armed one, a beat and an operation to look at."""
    account = make_account("desk-a")
    disarmed = make_policy(account, "BTCUSDT")
    armed = make_policy(account, "ETHUSDT", armed=True, generation=1, desired_changed_at=timezone.now())
    beat = Beat.objects.create(
        policy=armed,
        generation=1,
        kind="arm",
        countdown_ms=120_000,
        sent_at=timezone.now(),
        outcome="confirmed",
    )
    op = Operation.objects.create(action=Action.ARM, username="olga", policy=armed, account=account)
    return account, disarmed, armed, beat, op


def test_it_sends_anonymous_visitors_to_the_admin_sign_in(client, records):
    for path in ("/admin/", url("operation", "changelist"), url("exchangeaccount", "change", records[0].pk)):
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")


def test_it_keeps_users_without_a_role_out_of_the_admin(as_user, cast, records):
    client = as_user(cast.outsider)
    assert client.get(url("countdownpolicy", "changelist")).status_code == 302
    cast.outsider.is_staff = True
    cast.outsider.save()
    assert client.get(url("countdownpolicy", "changelist")).status_code == 403


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_it_lets_viewers_and_operators_read_everything_and_change_nothing(as_user, cast, records, who):
    account, disarmed, armed, beat, op = records
    client = as_user(getattr(cast, who))
    for model, pk in (
        ("exchangeaccount", account.pk),
        ("countdownpolicy", disarmed.pk),
        ("beat", beat.pk),
        ("operation", op.pk),
        ("duty", None),
        ("engineliveness", None),
    ):
        assert client.get(url(model, "changelist")).status_code == 200, model
        if pk is not None:
            assert client.get(url(model, "change", pk)).status_code == 200, model
    assert client.get(url("exchangeaccount", "add")).status_code == 403
    assert client.get(url("countdownpolicy", "add")).status_code == 403
    assert (
        client.post(url("countdownpolicy", "change", disarmed.pk), {"symbol": "XRPUSDT"}).status_code == 403
    )
    assert client.post(url("countdownpolicy", "delete", disarmed.pk), {"post": "yes"}).status_code == 403
    assert client.post(url("exchangeaccount", "change", account.pk), {"label": "x"}).status_code == 403
    assert CountdownPolicy.objects.get(pk=disarmed.pk).symbol == "BTCUSDT"
    assert ExchangeAccount.objects.get(pk=account.pk).label == "desk-a"


def test_it_shows_viewers_the_masked_key_and_no_key_inputs(as_user, cast, records):
    account = records[0]
    html = as_user(cast.viewer).get(url("exchangeaccount", "change", account.pk)).content.decode()
    assert f"…{account.api_key[-4:]}" in html
    assert 'name="new_api_key"' not in html
    assert account.api_key not in html and account.secret not in html


def test_it_tells_the_stored_key_from_the_inputs_for_a_new_one(as_user, cast, records):
    client = as_user(cast.key_admin)
    adding = client.get(url("exchangeaccount", "add")).content.decode()
    assert "Stored API key" not in adding and "Created at" not in adding
    assert '<label for="id_new_api_key">API key:</label>' in adding
    editing = client.get(url("exchangeaccount", "change", records[0].pk)).content.decode()
    assert "Stored API key" in editing and "Created at" in editing
    assert '<label for="id_new_api_key">New API key:</label>' in editing


def test_it_never_shows_a_secret_on_the_account_pages(as_user, cast, records):
    account = records[0]
    account.key_type, account.secret, account.key_passphrase = (
        "rsa",
        "-----BEGIN PRIVATE KEY-----x",
        "hunter22",
    )
    account.save()
    client = as_user(cast.key_admin)
    pages = [
        client.get(url("exchangeaccount", "change", account.pk)),
        client.get(url("exchangeaccount", "changelist")),
        client.get(url("exchangeaccount", "history", account.pk)),
        client.get(url("operation", "changelist")),
    ]
    raw = ExchangeAccount.objects.filter(pk=account.pk).values_list("api_key", flat=True)
    for response in pages:
        assert response.status_code == 200
        html = response.content.decode()
        for secret in (account.api_key, "BEGIN PRIVATE KEY", "hunter22", "gAAAAA"):
            assert secret not in html
    change_form = pages[0].content.decode()
    assert 'name="new_api_key"' in change_form and 'type="password"' in change_form
    assert f"…{account.api_key[-4:]}" in change_form
    assert list(raw)  # the stored value exists; the page simply never shows it


def test_it_lets_a_key_admin_add_an_account_after_the_key_check(as_user, cast, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    api_key, secret = new_api_key(), new_hmac_secret()
    client = as_user(cast.key_admin)
    refused = client.post(
        url("exchangeaccount", "add"), form_data(simulator.url, api_key, secret), REMOTE_ADDR=ADMIN_IP
    )
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "code -2015" in html and "IP whitelist" in html
    assert api_key not in html and secret not in html
    assert not ExchangeAccount.objects.exists()

    simulator.exchange.add_account(api_key, "hmac", secret)
    response = client.post(
        url("exchangeaccount", "add"), form_data(simulator.url, api_key, secret), REMOTE_ADDR=ADMIN_IP
    )
    assert response.status_code == 302
    account = ExchangeAccount.objects.get()
    op = Operation.objects.get(action=Action.ACCOUNT_CREATE)
    assert (op.username, op.ip, op.account) == ("karen", ADMIN_IP, account)
    assert op.changes["api_key"] == [None, f"…{api_key[-4:]}"]
    assert op.changes["secret"] == [None, "(set)"]
    for value in (api_key, secret):
        assert value not in str(op.changes)
        assert value not in caplog.text


def test_it_records_a_key_rotation_with_masked_keys(as_user, cast, simulator, sim_account):
    old_key = sim_account.api_key
    new_key, new_secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(new_key, "hmac", new_secret)
    client = as_user(cast.key_admin)
    data = form_data(simulator.url, new_key, new_secret, label="sim-usdm", egress="second-ip")
    response = client.post(url("exchangeaccount", "change", sim_account.pk), data, REMOTE_ADDR=ADMIN_IP)
    assert response.status_code == 302, response.content.decode()[:2000]
    rotate = Operation.objects.get(action=Action.KEY_ROTATE)
    assert rotate.changes == {
        "api_key": [f"…{old_key[-4:]}", f"…{new_key[-4:]}"],
        "secret": ["(stored)", "(replaced)"],
    }
    change = Operation.objects.get(action=Action.ACCOUNT_CHANGE)
    assert change.changes == {"egress": ["default", "second-ip"]}
    assert ExchangeAccount.objects.get(pk=sim_account.pk).api_key == new_key

    # Blank key fields keep the key: an edit of the label alone is no rotation.
    data = form_data(simulator.url, "", "", label="renamed", egress="second-ip")
    assert client.post(url("exchangeaccount", "change", sim_account.pk), data).status_code == 302
    assert Operation.objects.filter(action=Action.KEY_ROTATE).count() == 1
    assert ExchangeAccount.objects.get(pk=sim_account.pk).api_key == new_key


def test_it_records_policy_edits_made_in_the_admin(as_user, cast, sim_account):
    client = as_user(cast.key_admin)
    data = {"account": sim_account.pk, "symbol": "BTCUSDT", "countdown_ms": 120_000, "interval_s": 30}
    assert client.post(url("countdownpolicy", "add"), data, REMOTE_ADDR=ADMIN_IP).status_code == 302
    policy = CountdownPolicy.objects.get()
    data["countdown_ms"] = 100_000
    assert (
        client.post(url("countdownpolicy", "change", policy.pk), data, REMOTE_ADDR=ADMIN_IP).status_code
        == 302
    )
    assert client.post(url("countdownpolicy", "delete", policy.pk), {"post": "yes"}).status_code == 302
    ops = list(
        Operation.objects.exclude(action__in={Action.SIGN_IN, *privileges.ACTIONS}).order_by("at", "pk")
    )
    assert [o.action for o in ops] == [Action.POLICY_CREATE, Action.POLICY_CHANGE, Action.POLICY_DELETE]
    assert ops[1].changes == {"countdown_ms": [120_000, 100_000]}
    assert all(o.username == "karen" for o in ops)
    assert ops[0].ip == ADMIN_IP
    # Each lists the policy, kept with its account and symbol once it is deleted.
    listed = [o.targets.values_list("policy", "account_label", "symbol", "effect").get() for o in ops]
    assert listed == [
        (None, sim_account.label, "BTCUSDT", effect) for effect in ("created", "edited", "deleted")
    ]


def test_it_shows_validation_errors_in_the_policy_admin(as_user, cast, sim_account):
    client = as_user(cast.key_admin)
    data = {"account": sim_account.pk, "symbol": "btcusdt", "countdown_ms": 20_000, "interval_s": 10}
    html = client.post(url("countdownpolicy", "add"), data).content.decode()
    assert "Symbols are upper case: BTCUSDT." in html
    assert "Raise the countdown to 32000 ms" in html
    assert not CountdownPolicy.objects.exists()
    assert not Operation.objects.exclude(action__in={Action.SIGN_IN, *privileges.ACTIONS}).exists()


def test_it_refuses_to_delete_a_policy_that_is_not_disarmed(as_user, cast, records):
    armed = records[2]
    client = as_user(cast.superuser)
    assert client.post(url("countdownpolicy", "delete", armed.pk), {"post": "yes"}).status_code == 403
    assert CountdownPolicy.objects.filter(pk=armed.pk).exists()


def test_it_lists_policies_with_their_computed_status(as_user, cast, records):
    client = as_user(cast.viewer)
    html = client.get(url("countdownpolicy", "changelist")).content.decode()
    assert "Disarmed" in html and "Arming" in html
    filtered = client.get(url("countdownpolicy", "changelist"), {"status": "arming"}).content.decode()
    assert "ETHUSDT" in filtered and "BTCUSDT" not in filtered
    searched = client.get(url("countdownpolicy", "changelist"), {"q": "BTC"}).content.decode()
    assert "BTCUSDT" in searched and "ETHUSDT" not in searched


def test_it_lets_nobody_add_change_or_delete_operations(as_user, cast, records):
    op = records[4]
    client = as_user(cast.superuser)
    assert client.get(url("operation", "add")).status_code == 403
    assert client.post(url("operation", "change", op.pk), {"reason": "rewritten"}).status_code == 403
    assert client.post(url("operation", "delete", op.pk), {"post": "yes"}).status_code == 403
    changelist = client.get(url("operation", "changelist"))
    assert changelist.status_code == 200
    assert 'name="action"' not in changelist.content.decode()
    client.post(url("operation", "changelist"), {"action": "delete_selected", "_selected_action": [op.pk]})
    assert Operation.objects.filter(pk=op.pk).exists()
    page = client.get(url("operation", "change", op.pk)).content.decode()
    assert "olga" in page
    assert 'name="_save"' not in page and "deletelink" not in page


def test_it_shows_an_operations_targets_and_lets_nobody_change_or_delete_them(as_user, cast, records):
    account, disarmed, armed = records[:3]
    op = audit.record(
        Action.DISARM_SELECTED,
        user=cast.operator,
        ip="10.0.0.1",
        reason="drill",
        targets=[audit.target(armed, Effect.DISARMED), audit.target(disarmed, Effect.UNCHANGED)],
    )
    for who in (cast.superuser, cast.viewer):
        page = as_user(who).get(url("operation", "change", op.pk)).content.decode()
        assert "ETHUSDT" in page and "BTCUSDT" in page and "Listed, unchanged" in page
        assert 'name="targets-0-effect"' not in page and 'name="targets-0-DELETE"' not in page
        assert 'name="_save"' not in page and "deletelink" not in page
    client = as_user(cast.superuser)
    form = {
        "targets-TOTAL_FORMS": "2",
        "targets-INITIAL_FORMS": "2",
        "targets-0-id": str(op.targets.first().pk),
        "targets-0-effect": "armed",
        "targets-0-DELETE": "on",
    }
    assert client.post(url("operation", "change", op.pk), form).status_code == 403
    assert list(op.targets.values_list("effect", flat=True)) == ["disarmed", "unchanged"]
    # No page of their own to reach them by another way.
    assert client.get(f"/admin/heartbeats/operationtarget/{op.targets.first().pk}/change/").status_code == 404


def test_it_keeps_beats_and_engine_records_read_only(as_user, cast, records):
    client = as_user(cast.superuser)
    beat = records[3]
    assert client.get(url("beat", "add")).status_code == 403
    assert client.post(url("beat", "delete", beat.pk), {"post": "yes"}).status_code == 403
    assert client.get(url("duty", "add")).status_code == 403
    assert client.get(url("engineliveness", "add")).status_code == 403
    assert client.get(url("beat", "changelist"), {"q": "ETHUSDT"}).status_code == 200


def test_it_records_admin_sign_in_failed_sign_in_and_sign_out(client, cast):
    client.post("/admin/login/", {"username": "victor", "password": "nope-nope-nope"}, REMOTE_ADDR=ADMIN_IP)
    client.post("/admin/login/", {"username": "victor", "password": PASSWORD}, REMOTE_ADDR=ADMIN_IP)
    client.post("/admin/logout/", REMOTE_ADDR=ADMIN_IP)
    rows = list(
        Operation.objects.exclude(action__in=privileges.ACTIONS)
        .order_by("at", "pk")
        .values_list("action", "username", "ip")
    )
    assert rows == [
        (Action.SIGN_IN_FAILED, "victor", ADMIN_IP),
        (Action.SIGN_IN, "victor", ADMIN_IP),
        (Action.SIGN_OUT, "victor", ADMIN_IP),
    ]
    assert "nope-nope-nope" not in str(list(Operation.objects.values()))


def test_it_shows_no_secret_on_an_error_page_or_in_the_log(client, cast, settings, key_b, caplog):
    account = make_account()
    settings.ENCRYPTION_KEYS = [key_b]  # the stored secrets no longer open
    settings.DEBUG = False
    client.raise_request_exception = False
    client.force_login(cast.key_admin)
    with caplog.at_level(logging.DEBUG):
        response = client.get(url("exchangeaccount", "change", account.pk))
    assert response.status_code == 500
    text = response.content.decode() + caplog.text
    assert "SecretDecryptionError" in caplog.text
    for secret in (account.api_key, account.secret, "gAAAAA"):
        assert secret not in text


def test_it_keeps_posted_keys_out_of_error_reports(
    client, cast, simulator, sim_key, settings, mailoutbox, monkeypatch
):
    from django.utils.log import AdminEmailHandler

    api_key, secret = sim_key
    mailers = [h for h in logging.getLogger("django").handlers if isinstance(h, AdminEmailHandler)]
    assert mailers
    for handler in mailers:  # the HTML report lists every frame's local variables
        monkeypatch.setattr(handler, "include_html", True)
    settings.ADMINS = ["desk@example.com"]
    settings.DEBUG = False
    client.raise_request_exception = False
    client.force_login(cast.key_admin)
    settings.ENCRYPTION_KEYS = []  # the key check passes, then saving fails
    response = client.post(url("exchangeaccount", "add"), form_data(simulator.url, api_key, secret))
    assert response.status_code == 500
    assert len(mailoutbox) == 1
    report = mailoutbox[0].body + "".join(str(a[0]) for a in mailoutbox[0].alternatives)
    assert "ImproperlyConfigured" in report
    assert "Local Vars" in report
    assert "new_secret" in report  # the parameter is named, its value starred out
    for value in (api_key, secret):
        assert value not in report
        assert value not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_it_calls_the_exchange_outside_any_database_transaction(
    client, cast, simulator, sim_key, monkeypatch
):
    from django.db import connection

    from heartbeats import forms
    from heartbeats.domain import symbols

    seen = []

    def spy(name, real):
        def call(*args, **kwargs):
            seen.append((name, connection.in_atomic_block))
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(forms, "check_key", spy("key check", forms.check_key))
    monkeypatch.setattr(symbols, "exchange_facts", spy("exchange info", symbols.exchange_facts))
    client.force_login(cast.key_admin)
    assert client.post(url("exchangeaccount", "add"), form_data(simulator.url, *sim_key)).status_code == 302
    data = {
        "account": ExchangeAccount.objects.get().pk,
        "symbol": "BTCUSDT",
        "countdown_ms": 120_000,
        "interval_s": 30,
    }
    assert client.post(url("countdownpolicy", "add"), data).status_code == 302
    assert seen and {name for name, _ in seen} == {"key check", "exchange info"}
    assert not any(in_transaction for _, in_transaction in seen), seen
    assert Operation.objects.filter(action__in=[Action.ACCOUNT_CREATE, Action.POLICY_CREATE]).count() == 2


def test_it_records_account_deletion_and_refuses_it_while_policies_remain(as_user, cast, records):
    account = records[0]
    client = as_user(cast.key_admin)
    client.post(url("exchangeaccount", "delete", account.pk), {"post": "yes"})
    assert ExchangeAccount.objects.filter(pk=account.pk).exists()
    assert not Operation.objects.filter(action=Action.ACCOUNT_DELETE).exists()

    empty = make_account("empty")
    assert client.post(url("exchangeaccount", "delete", empty.pk), {"post": "yes"}).status_code == 302
    op = Operation.objects.get(action=Action.ACCOUNT_DELETE)
    assert op.changes == {"label": ["empty", None], "api_key": [f"…{empty.api_key[-4:]}", None]}
    assert op.account is None  # the row outlives the account


BIG = "9" * 30


@pytest.mark.parametrize(
    "path",
    [
        url("beat", "changelist") + "?sent_at__year=9999",  # the year after it does not exist
        url("beat", "changelist") + f"?sent_at__year={BIG}",
        url("operation", "changelist") + f"?at__year={BIG}",
        url("engineliveness", "changelist") + "?seen_at__year=9999",
        f"/admin/auth/user/?date_joined__year={BIG}",
    ],
)
def test_it_treats_an_impossible_date_drill_down_as_a_bad_filter(as_user, cast, records, path):
    response = as_user(cast.superuser).get(path)
    assert response.status_code == 302
    assert response.url.endswith("?e=1")


@pytest.mark.parametrize(
    "path",
    [
        url("beat", "changelist") + f"?id__in={BIG}",
        url("operation", "changelist") + f"?id__in=1,{BIG}",
        url("countdownpolicy", "changelist") + f"?account__id__in={BIG}",
        f"/admin/auth/user/?id__in={BIG}",
    ],
)
def test_it_answers_an_id_beyond_the_integer_range_without_a_server_error(as_user, cast, records, path):
    # SQLite's driver refuses such a number (the list comes back flagged ?e=1); PostgreSQL matches nothing.
    response = as_user(cast.superuser).get(path)
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response.url.endswith("?e=1")


def test_it_shows_audit_times_to_the_second(as_user, cast, records):
    op = records[4]
    op.__class__.objects.filter(pk=op.pk).update(
        at=timezone.make_aware(timezone.datetime(2026, 11, 25, 13, 0, 7))
    )
    client = as_user(cast.viewer)
    for page in (url("operation", "changelist"), url("operation", "change", op.pk)):
        assert "2026-11-25 13:00:07" in client.get(page).content.decode(), page


def test_it_says_what_changed_in_the_list_of_operations(as_user, cast, records):
    account = records[0]
    Operation.objects.create(
        action=Action.KEY_ROTATE,
        username="karen",
        account=account,
        changes={"api_key": ["…AAAA", "…BBBB"], "secret": ["(stored)", "(replaced)"]},
    )
    html = as_user(cast.viewer).get(url("operation", "changelist")).content.decode()
    assert "api_key: …AAAA → …BBBB; secret: (stored) → (replaced)" in html


def test_the_index_leads_with_the_audit_trail(as_user, cast, records):
    op = records[4]
    for who in ("viewer", "superuser"):
        response = as_user(getattr(cast, who)).get("/admin/")
        first = response.context["app_list"][0]
        assert (first["app_label"], first["models"][0]["name"]) == ("heartbeats", "Operations (audit trail)")
        html = response.content.decode()
        assert html.index("Operations (audit trail)") < html.index("Engine liveness records")
        # The side column lists the audit trail's latest operations, not Django's own log of admin edits.
        assert "Recent actions" not in html and "Audit trail" in html
        assert f'href="{url("operation", "change", op.pk)}"' in html, who
    assert html.index("Operations (audit trail)") < html.index("Groups")  # before Django's own apps
