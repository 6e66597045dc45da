"""The one form for an alert channel, used by the Alerts page and the admin. The URL is write-only: never
rendered back, not even after an error; left blank on an edit it keeps the stored one."""

from django import forms

from heartbeats.desk.alerts import delivery
from heartbeats.models import ExchangeAccount
from heartbeats.models.alerts import AlertChannel, AlertEvent


class ChannelForm(forms.ModelForm):
    new_url = forms.CharField(
        label="URL",
        required=False,
        max_length=2000,
        strip=True,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false", "size": 60}
        ),
        help_text="An apprise URL: json://host/path (a webhook), mailto://user:password@host, slack://…, "
        "msteams://…, tgram://…, pagerduty://…, opsgenie://…, or log:// (this server's log). It usually "
        "holds the service's token: it is stored encrypted and never shown again.",
    )
    events = forms.MultipleChoiceField(
        choices=AlertEvent.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    accounts = forms.ModelMultipleChoiceField(
        queryset=ExchangeAccount.objects.without_secrets().order_by("label"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every account (and events about no account, such as the engine, always).",
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "enabled", "events", "accounts", "repeat_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = self.instance.pk is None
        if self.creating:
            self.fields["new_url"].required = True
        else:
            self.fields[
                "new_url"
            ].help_text = (
                f"Stored: {self.instance.url_hint or 'a URL'}. Leave blank to keep it; fill in to replace it."
            )
        self.fields["repeat_minutes"].max_value = 7 * 24 * 60
        self.fields["repeat_minutes"].widget.attrs["max"] = 7 * 24 * 60

    def clean_new_url(self):
        url = self.cleaned_data.get("new_url", "")
        if url:
            try:
                delivery.check_url(url)
            except delivery.ChannelURLError as exc:
                raise forms.ValidationError(str(exc)) from None
        return url

    def clean_repeat_minutes(self):
        minutes = self.cleaned_data.get("repeat_minutes")
        if minutes is not None and minutes > 7 * 24 * 60:
            raise forms.ValidationError("Remind at most once a week apart (10080 minutes); 0 for never.")
        return minutes

    def save(self, commit=True):
        channel = super().save(commit=False)
        if self.cleaned_data.get("new_url"):
            channel.url = self.cleaned_data["new_url"]
        if commit:
            channel.save()
            self.save_m2m()
        return channel

    def changes(self, before: dict | None) -> dict:
        """What this save changed, for the audit trail: the URL only as "replaced", never its value."""
        after = describe(self.instance)
        if self.cleaned_data.get("new_url"):
            after["url"] = f"{self.instance.url_hint} (replaced)" if before else self.instance.url_hint
        before = before or {}
        return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def describe(channel: AlertChannel) -> dict:
    """A channel's settings as the audit trail keeps them (no URL)."""
    return {
        "name": channel.name,
        "enabled": channel.enabled,
        "events": sorted(channel.events or []),
        "accounts": sorted(a.label for a in channel.accounts.all()) if channel.pk else [],
        "repeat_minutes": channel.repeat_minutes,
    }
