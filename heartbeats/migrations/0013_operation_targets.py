"""An operation's policies become OperationTarget rows, indexed by policy, so a policy's page lists every
operation that touched it. Every existing operation's JSON `targets` list (and, for a single-policy action
such as an arm or a policy edit, its `policy`) is converted into rows.

The JSON column stays, unwritten, for one release (`Operation.legacy_targets`): processes of the previous
release may still write it during a rolling deploy. Going back rebuilds the list from the rows for the
operations written since, then drops the rows.
"""

import django.db.models.deletion
from django.db import migrations, models

# Copies of the actions' and effects' values as they are at this migration.
ARMING = {"arm", "rearm", "arm_selected", "window_end", "window_end_early"}
DISARMING = {"disarm", "disarm_all", "disarm_selected", "window_start"}
POLICY_EDITS = {"policy_create": "created", "policy_change": "edited", "policy_delete": "deleted"}
BATCH = 2000


def _effect(action: str, changed: bool) -> tuple[str, bool]:
    """(effect, changed) of a converted row; `changed` as the JSON said, True where it said nothing."""
    if action == "cancel_orders":
        return "orders_cancelled", False
    if action in POLICY_EDITS:
        return POLICY_EDITS[action], False
    if action in ARMING and changed:
        return "armed", True
    if action in DISARMING and changed:
        return "disarmed", True
    return "unchanged", False


def _as_recorded(changes, name: str):
    """A policy edit's account or symbol from its changes ({"symbol": [old, new]}): the new value, or the old
    one for a deletion; None when the edit did not note it."""
    pair = changes.get(name) if isinstance(changes, dict) else None
    if isinstance(pair, list) and len(pair) == 2:
        return pair[1] if pair[1] is not None else pair[0]
    return None


def _number(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def to_rows(apps, schema_editor):
    db = schema_editor.connection.alias
    Operation = apps.get_model("heartbeats", "Operation")
    Target = apps.get_model("heartbeats", "OperationTarget")
    Policy = apps.get_model("heartbeats", "CountdownPolicy")
    known = Policy.objects.using(db).values_list("pk", "account__label", "symbol")
    policies = {pk: (label, symbol) for pk, label, symbol in known}
    rows = []
    operations = Operation.objects.using(db).order_by("pk").values_list(
        "pk", "action", "policy_id", "legacy_targets", "changes"
    )
    for pk, action, policy_id, listed, changes in operations.iterator(chunk_size=BATCH):
        seen = set()
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict):
                continue
            target = _number(entry.get("policy"))
            label, symbol = policies.get(target, ("", ""))
            effect, changed = _effect(action, entry.get("changed", True) is not False)
            rows.append(
                Target(
                    operation_id=pk,
                    policy_id=target if target in policies else None,
                    account_label=str(entry.get("account") or label)[:100],
                    symbol=str(entry.get("symbol") or symbol)[:32],
                    generation=_number(entry.get("generation")),
                    changed=changed,
                    effect=effect,
                )
            )
            seen.add(target)
        single = policy_id is not None and policy_id not in seen
        # A policy created or deleted whose row is gone: its account and symbol are in the changes.
        gone = policy_id is None and not seen and action in ("policy_create", "policy_delete")
        if single or gone:
            label, symbol = policies.get(policy_id, ("", ""))
            symbol = _as_recorded(changes, "symbol") or symbol
            if symbol:
                effect, changed = _effect(action, True)
                rows.append(
                    Target(
                        operation_id=pk,
                        policy_id=policy_id,
                        account_label=str(_as_recorded(changes, "account") or label)[:100],
                        symbol=str(symbol)[:32],
                        generation=None,  # not noted by these operations
                        changed=changed,
                        effect=effect,
                    )
                )
        if len(rows) >= BATCH:
            Target.objects.using(db).bulk_create(rows)
            rows = []
    Target.objects.using(db).bulk_create(rows)


def to_json(apps, schema_editor):
    """The lists as the previous release wrote them, for the operations written since this migration."""
    db = schema_editor.connection.alias
    Operation = apps.get_model("heartbeats", "Operation")
    Target = apps.get_model("heartbeats", "OperationTarget")
    listed = {}
    targets = Target.objects.using(db).filter(operation__action__in=[*ARMING, *DISARMING, "cancel_orders"])
    for t in targets.order_by("operation_id", "pk").iterator(chunk_size=BATCH):
        entry = {
            "policy": t.policy_id,
            "account": t.account_label,
            "symbol": t.symbol,
            "generation": t.generation,
        }
        if t.effect != "orders_cancelled":
            entry["changed"] = t.changed
        listed.setdefault(t.operation_id, []).append(entry)
    pks = sorted(listed)
    for start in range(0, len(pks), BATCH):
        chunk = Operation.objects.using(db).filter(pk__in=pks[start : start + BATCH])
        for pk, kept in chunk.values_list("pk", "legacy_targets"):
            if not kept:  # written since: the rows are all there is
                Operation.objects.using(db).filter(pk=pk).update(legacy_targets=listed[pk])


class Migration(migrations.Migration):

    dependencies = [
        ('heartbeats', '0012_cancel_state_unknown'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The column keeps its name: only the model's field is renamed.
            state_operations=[
                migrations.RenameField(model_name='operation', old_name='targets', new_name='legacy_targets'),
                migrations.AlterField(
                    model_name='operation',
                    name='legacy_targets',
                    field=models.JSONField(blank=True, db_column='targets', default=list, editable=False),
                ),
            ],
        ),
        migrations.CreateModel(
            name='OperationTarget',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('account_label', models.CharField(max_length=100)),
                ('symbol', models.CharField(max_length=32)),
                ('generation', models.PositiveBigIntegerField(blank=True, null=True)),
                ('changed', models.BooleanField(default=False)),
                ('effect', models.CharField(choices=[('armed', 'Armed'), ('disarmed', 'Disarmed'), ('unchanged', 'Listed, unchanged'), ('orders_cancelled', 'Orders cancelled'), ('held', 'Held back'), ('released', 'Released'), ('created', 'Created'), ('edited', 'Edited'), ('deleted', 'Deleted')], max_length=16)),
                ('operation', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='targets', to='heartbeats.operation')),
                ('policy', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='operation_targets', to='heartbeats.countdownpolicy')),
            ],
            options={
                'ordering': ['id'],
                'indexes': [models.Index(fields=['policy', 'operation'], name='target_by_policy')],
            },
        ),
        migrations.RunPython(to_rows, to_json),
    ]
