"""The one form for an alert channel, used by the Alerts page and the admin. The URL is write-only: never
rendered back, not even after an error; left blank on an edit it keeps the stored one.

Two key admins may change the same channel at once (a page and the admin): an edit writes only what it
shows, under a lock on the row (LockedEditMixin), and refuses when someone changed that meanwhile.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from heartbeats.desk.alerts import delivery
from heartbeats.domain import audit
from heartbeats.forms import LockedEditMixin, PlainNumbersMixin
from heartbeats.models import Action, ExchangeAccount
from heartbeats.models.alerts import AlertChannel, AlertEvent


class ChannelForm(PlainNumbersMixin, LockedEditMixin, forms.ModelForm):
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

    OWNED_FIELDS = Meta.fields

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = self.instance.pk is None
        self.described_before = None if self.creating else describe(self.instance)
        # The admin leaves out the fields a person may only read (a viewer sees no inputs at all).
        if "new_url" in self.fields:
            if self.creating:
                self.fields["new_url"].required = True
            else:
                stored = self.instance.url_hint or "a URL"
                self.fields[
                    "new_url"
                ].help_text = f"Stored: {stored}. Leave blank to keep it; fill in to replace it."
        if "repeat_minutes" in self.fields:
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

    def _post_clean(self):
        super()._post_clean()  # the instance now carries the form's plain fields
        if self.cleaned_data.get("new_url"):
            self.instance.url = self.cleaned_data["new_url"]

    def owned_columns(self) -> list[str]:
        replaced = ["url", "url_hint"] if self.cleaned_data.get("new_url") else []
        return [*super().owned_columns(), *replaced]

    def compared_columns(self) -> list[str]:
        # A URL replaced meanwhile is kept by an edit that leaves it blank, and refuses one that replaces it.
        replaced = ["url"] if self.cleaned_data.get("new_url") else []
        return [*super().compared_columns(), *replaced]

    def _column_label(self, column: str) -> str:
        return "URL" if column == "url" else super()._column_label(column)

    def changes(self) -> dict:
        """What this save changed, for the audit trail: the URL only as "replaced", never its value."""
        before = self.described_before
        after = describe(self.instance)
        if self.cleaned_data.get("new_url"):
            after["url"] = f"{self.instance.url_hint} (replaced)" if before else self.instance.url_hint
        before = before or {}
        return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}

    def save_audited(self, *, user, ip) -> AlertChannel:
        """Save and write the audit row in one transaction (after is_valid()). Raises ValidationError
        (nothing written) when the stored channel no longer allows the edit."""
        try:
            with transaction.atomic():
                channel = self._write()
                audit.record(
                    Action.CHANNEL_CREATE if self.creating else Action.CHANNEL_CHANGE,
                    user=user,
                    ip=ip,
                    reason=f"alert channel {channel.name}",
                    changes=self.changes(),
                )
        except IntegrityError:
            # Checked by is_valid(), taken or deleted by someone else since: say so, as the checks would.
            name = self.instance.name
            if AlertChannel.objects.filter(name=name).exclude(pk=self.instance.pk).exists():
                raise ValidationError({"name": f"An alert channel named {name} already exists."}) from None
            chosen = {a.pk for a in self.cleaned_data.get("accounts") or []}
            if ExchangeAccount.objects.filter(pk__in=chosen).count() < len(chosen):
                raise ValidationError(
                    "An account chosen was deleted while this form was being checked. Nothing was saved: "
                    "reload the page and choose again."
                ) from None
            raise
        return channel


def describe(channel: AlertChannel) -> dict:
    """A channel's settings as the audit trail keeps them (no URL)."""
    return {
        "name": channel.name,
        "enabled": channel.enabled,
        "events": sorted(channel.events or []),
        "accounts": sorted(a.label for a in channel.accounts.all()) if channel.pk else [],
        "repeat_minutes": channel.repeat_minutes,
    }
