"""The strategy form, for the Strategies pages (key admins).

A strategy's row is written by others all the time: every ping (`last_ping_*`, `ping_count`), /fail, the
silence latch and a release (`held_*`), a new ping URL (`ping_key_*`). The form writes only what it shows,
under a lock on the row (LockedEditMixin), so none of theirs is undone by a save.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from heartbeats.domain import audit
from heartbeats.forms import LockedEditMixin, PlainNumbersMixin
from heartbeats.models import Action, CountdownPolicy
from heartbeats.models.strategies import Strategy

MAX_GRACE_S = 24 * 3600


class StrategyForm(PlainNumbersMixin, LockedEditMixin, forms.ModelForm):
    policies = forms.ModelMultipleChoiceField(
        queryset=CountdownPolicy.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="The policies this strategy holds (a policy belongs to one strategy at most). Ctrl or ⌘ "
        "to pick several.",
    )

    class Meta:
        model = Strategy
        fields = ["name", "owner", "grace_s", "rearm_on_return", "cancel_when_silent"]
        labels = {"grace_s": "Grace (seconds)"}

    # Its policies too: the rows pointing at it, written by save_policies().
    OWNED_FIELDS = [*Meta.fields, "policies"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        free = Q(strategy__isnull=True)
        if self.instance.pk:
            free |= Q(strategy=self.instance)
            self.fields["policies"].initial = list(self.instance.policies.values_list("pk", flat=True))
        self.fields["policies"].queryset = (
            CountdownPolicy.objects.with_account().filter(free).order_by("account__label", "symbol")
        )
        self.fields["policies"].label_from_instance = lambda p: f"{p.account.label} {p.switch_title}"
        self.described_before = describe(self.instance) if self.instance.pk else None

    def clean_grace_s(self):
        grace = self.cleaned_data["grace_s"]
        if not 5 <= grace <= MAX_GRACE_S:
            raise forms.ValidationError(f"Give a grace between 5 and {MAX_GRACE_S} seconds.")
        return grace

    def save_policies(self, strategy: Strategy) -> None:
        """Give the strategy the chosen policies, taking only free ones; raises ValidationError when one was
        given to another strategy (or deleted) after the form was checked, so the caller's transaction
        saves nothing."""
        chosen = {p.pk for p in self.cleaned_data["policies"]}
        CountdownPolicy.objects.filter(strategy=strategy).exclude(pk__in=chosen).update(strategy=None)
        CountdownPolicy.objects.filter(pk__in=chosen, strategy__isnull=True).update(strategy=strategy)
        lost = CountdownPolicy.objects.with_account().filter(pk__in=chosen).exclude(strategy=strategy)
        taken = [f"{p.account.label} {p.switch_title} was given to strategy {p.strategy}" for p in lost]
        gone = len(chosen) - CountdownPolicy.objects.filter(pk__in=chosen).count()
        if gone:
            taken.append(f"{gone} of the chosen policies {'was' if gone == 1 else 'were'} deleted")
        if taken:
            raise ValidationError(
                f"{'; '.join(taken)} while this form was being checked. Nothing was saved: reload the page "
                "and choose again."
            )

    def save_audited(self, *, user, ip) -> Strategy:
        """Save the strategy and its policies and write the audit row, in one transaction (after
        is_valid()). A new strategy needs its ping key's digest set on the instance first. Raises
        ValidationError (nothing written) when the stored strategy no longer allows the edit."""
        try:
            with transaction.atomic():
                strategy = self._write()
                self.save_policies(strategy)
                after = describe(strategy)
                if self.described_before is None:
                    action, changes = Action.STRATEGY_CREATE, after
                else:
                    before = self.described_before
                    action = Action.STRATEGY_CHANGE
                    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
                audit.record(action, user=user, ip=ip, reason=f"strategy {strategy.name}", changes=changes)
        except IntegrityError:
            # Another key admin took this name after our uniqueness check: say so, as clean() would.
            name = self.instance.name
            if not Strategy.objects.filter(name=name).exclude(pk=self.instance.pk).exists():
                raise
            raise ValidationError({"name": f"A strategy named {name} already exists."}) from None
        return strategy


def describe(strategy: Strategy) -> dict:
    """A strategy's settings as the audit trail keeps them."""
    return {
        "name": strategy.name,
        "owner": strategy.owner,
        "grace_s": strategy.grace_s,
        "rearm_on_return": strategy.rearm_on_return,
        "cancel_when_silent": strategy.cancel_when_silent,
        "policies": sorted(f"{p.account.label} {p.switch_title}" for p in strategy.policies.with_account()),
    }
