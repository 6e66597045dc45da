"""Migration 0013: every operation's JSON list of targets (and a single-policy action's `policy`) becomes
OperationTarget rows; going back rebuilds the list for the operations written since."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from heartbeats.domain import audit
from heartbeats.models import Action, Effect, OperationTarget

BEFORE = [("heartbeats", "0012_cancel_state_unknown")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(target):
    """The historical apps at `target`, once the database is migrated there."""
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def before_targets():
    """The database as it was before migration 0013; migrated to the newest again afterwards."""
    try:
        yield _migrate(BEFORE)
    finally:
        call_command("migrate", verbosity=0)


def _old_desk(apps):
    Account = apps.get_model("heartbeats", "ExchangeAccount")
    Policy = apps.get_model("heartbeats", "CountdownPolicy")
    Operation = apps.get_model("heartbeats", "Operation")
    account = Account.objects.create(label="desk-a", api_key="k" * 64, secret="s" * 64)
    btc = Policy.objects.create(account=account, symbol="BTCUSDT", countdown_ms=120_000, interval_s=30)
    ada = Policy.objects.create(account=account, symbol="ADAUSDT", countdown_ms=120_000, interval_s=30)

    def op(action, **fields):
        return Operation.objects.create(action=action, username="olga", **fields).pk

    def entry(policy, generation, **extra):
        return {
            "policy": policy.pk,
            "account": "desk-a",
            "symbol": policy.symbol,
            "generation": generation,
            **extra,
        }

    return (
        btc,
        ada,
        {
            "arm": op("arm", policy=btc, targets=[entry(btc, 1)]),
            "disarm_all": op(
                "disarm_all",
                targets=[entry(btc, 2, changed=True), entry(ada, 5, changed=False), "not a target"],
            ),
            # Written before the list said "changed": everything it listed, it disarmed.
            "old_disarm_all": op("disarm_all", targets=[entry(ada, 4)]),
            "cancel": op("cancel_orders", targets=[entry(btc, 2)]),
            "edit": op("policy_change", policy=ada, changes={"interval_s": [30, 10]}),
            "gone_disarm": op(
                "disarm", targets=[{"policy": 999, "account": "desk-b", "symbol": "XRPUSDT", "generation": 3}]
            ),
            "gone_delete": op(
                "policy_delete", changes={"symbol": ["XRPUSDT", None], "account": ["desk-b", None]}
            ),
            "sign_in": op("sign_in"),
        },
    )


def _rows(pk):
    return list(
        OperationTarget.objects.filter(operation_id=pk).values_list(
            "policy", "account_label", "symbol", "generation", "changed", "effect"
        )
    )


def test_it_converts_every_operations_json_targets_into_rows(before_targets):
    btc, ada, ops = _old_desk(before_targets)
    call_command("migrate", verbosity=0)
    assert _rows(ops["arm"]) == [(btc.pk, "desk-a", "BTCUSDT", 1, True, Effect.ARMED)]
    assert _rows(ops["disarm_all"]) == [
        (btc.pk, "desk-a", "BTCUSDT", 2, True, Effect.DISARMED),
        (ada.pk, "desk-a", "ADAUSDT", 5, False, Effect.UNCHANGED),
    ]
    assert _rows(ops["old_disarm_all"]) == [(ada.pk, "desk-a", "ADAUSDT", 4, True, Effect.DISARMED)]
    assert _rows(ops["cancel"]) == [(btc.pk, "desk-a", "BTCUSDT", 2, False, Effect.ORDERS_CANCELLED)]
    # A single-policy action kept only its `policy`: its account and symbol come from the policy.
    assert _rows(ops["edit"]) == [(ada.pk, "desk-a", "ADAUSDT", None, False, Effect.EDITED)]
    # A deleted policy's operations keep its account and symbol, from the list or from the changes.
    assert _rows(ops["gone_disarm"]) == [(None, "desk-b", "XRPUSDT", 3, True, Effect.DISARMED)]
    assert _rows(ops["gone_delete"]) == [(None, "desk-b", "XRPUSDT", None, False, Effect.DELETED)]
    assert _rows(ops["sign_in"]) == []
    # The policy page's question, answered by the rows.
    touching = OperationTarget.objects.filter(policy_id=ada.pk).order_by("-operation_id")
    assert [t.operation_id for t in touching] == [ops["edit"], ops["old_disarm_all"], ops["disarm_all"]]


def test_going_back_rebuilds_the_list_of_the_operations_written_since(before_targets):
    btc, _, ops = _old_desk(before_targets)
    call_command("migrate", verbosity=0)
    policy = OperationTarget.objects.filter(policy_id=btc.pk).first().policy
    since = audit.record(
        Action.DISARM_SELECTED,
        user=None,
        ip=None,
        reason="drill",
        targets=[audit.target(policy, Effect.DISARMED)],
    )
    old = _migrate(BEFORE)
    then = old.get_model("heartbeats", "Operation")
    assert then.objects.get(pk=since.pk).targets == [
        {"policy": btc.pk, "account": "desk-a", "symbol": "BTCUSDT", "generation": 0, "changed": True}
    ]
    # The lists the previous release wrote are kept as they were.
    assert then.objects.get(pk=ops["arm"]).targets == [
        {"policy": btc.pk, "account": "desk-a", "symbol": "BTCUSDT", "generation": 1}
    ]
