"""The strategy form, for the Strategies pages (key admins)."""

from django import forms
from django.db.models import Q

from heartbeats.models import CountdownPolicy
from heartbeats.models.strategies import Strategy

MAX_GRACE_S = 24 * 3600


class StrategyForm(forms.ModelForm):
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        free = Q(strategy__isnull=True)
        if self.instance.pk:
            free |= Q(strategy=self.instance)
            self.fields["policies"].initial = list(self.instance.policies.values_list("pk", flat=True))
        self.fields["policies"].queryset = (
            CountdownPolicy.objects.with_account().filter(free).order_by("account__label", "symbol")
        )
        self.fields["policies"].label_from_instance = lambda p: f"{p.account.label} {p.symbol}"

    def clean_grace_s(self):
        grace = self.cleaned_data["grace_s"]
        if not 5 <= grace <= MAX_GRACE_S:
            raise forms.ValidationError(f"Give a grace between 5 and {MAX_GRACE_S} seconds.")
        return grace

    def save_policies(self, strategy: Strategy) -> None:
        chosen = {p.pk for p in self.cleaned_data["policies"]}
        CountdownPolicy.objects.filter(strategy=strategy).exclude(pk__in=chosen).update(strategy=None)
        CountdownPolicy.objects.filter(pk__in=chosen, strategy__isnull=True).update(strategy=strategy)
