"""The form key admins create an API token with (views/api_tokens.py)."""

import ipaddress
import re

from django import forms
from django.core.validators import RegexValidator

from heartbeats import text
from heartbeats.forms import PlainNumbersMixin
from heartbeats.models.tokens import ApiToken, TokenRole

MAX_ADDRESSES = 50
# Plain names: the audit trail shows them as api:<name>, next to people's usernames.
NAME = RegexValidator(r"^[\w .-]+$", "Use letters, digits, spaces, dots, dashes and underscores.")


class TokenForm(PlainNumbersMixin, forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        validators=[NAME, text.one_line],
        help_text="Who or what uses it, e.g. “incident runbook”. The audit trail names it api:<name>.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        choices=TokenRole.choices, initial=TokenRole.VIEWER, widget=forms.RadioSelect, label="Role"
    )
    allowed_addresses = forms.CharField(
        required=False,
        label="Allowed addresses",
        help_text="One address or network per line (192.0.2.7, 10.1.2.0/24, 2001:db8::/48). Empty: any "
        "address. Behind the proxy this is the address the proxy saw.",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "10.1.2.0/24"}),
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        # Revoked tokens keep their names, so a name in the audit trail always means one token.
        if ApiToken.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(f"A token named “{name}” exists already (perhaps revoked).")
        return name

    def clean_allowed_addresses(self) -> list[str]:
        networks, wrong = [], []
        for entry in re.split(r"[\s,]+", self.cleaned_data["allowed_addresses"]):
            if not entry:
                continue
            try:
                network = str(ipaddress.ip_network(entry, strict=True))
            except ValueError:
                loose = _loose(entry)
                wrong.append(f"{entry[:50]} (did you mean {loose}?)" if loose else entry[:50])
                continue
            if network not in networks:
                networks.append(network)
        if wrong:
            raise forms.ValidationError(f"Not an address or network: {', '.join(wrong[:5])}.")
        if len(networks) > MAX_ADDRESSES:
            raise forms.ValidationError(f"At most {MAX_ADDRESSES} addresses or networks.")
        return networks


def _loose(entry: str) -> str:
    """The network a CIDR with host bits set (10.1.2.3/24) most likely meant, or ""."""
    try:
        return str(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        return ""
