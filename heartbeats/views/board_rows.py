"""The board's table rows as HTML: the server's first picture of a page, and (for a blank row) the <template>
the board script clones for rows that come in later.

Built here rather than in a template: at a hundred rows a page the template language cost more than the
rest of the request together (about a quarter of a millisecond a row). Every value goes through escape().
The row's buttons submit the page's one `row-action` form (its CSRF token and return address), each to its
own URL, so a row carries no form of its own.
"""

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import get_current_timezone

from heartbeats.desk.presenters import PolicyRow, clock

LAPSE_TITLE = "The countdown ran out at this time: the exchange cancelled the open orders its switch covers"
# Beside an Options row's symbol: its switch covers an underlying, every option on it.
COVERS_TITLE = "Binance Options: this switch covers an underlying, every option on it"
# An OKX or Kraken Futures row: its switch covers the whole account (an OKX tag's row says "tag mm1").
ACCOUNT_TITLE = "This switch covers every open order of its account, or of its tag when it names one"


def _hidden(flag: bool) -> str:
    return " hidden" if flag else ""


class RowRenderer:
    def __init__(self, can_operate: bool):
        self.can_operate = bool(can_operate)
        # URL patterns reversed once, with the id filled in per row (the board script does the same).
        self.urls = {name: reverse(name, args=["ID"]) for name in ("policy", "policy_arm", "policy_disarm")}
        self.zone = get_current_timezone()  # once, not per time shown

    def url(self, name: str, pk) -> str:
        return self.urls[name].replace("ID", str(pk)) if pk else ""

    def rows(self, rows: list[PolicyRow]) -> SafeString:
        return mark_safe("\n".join(self.row(r) for r in rows))  # noqa: S308 - row() escapes every value

    def blank(self) -> SafeString:
        return mark_safe(self.row(None))  # noqa: S308 - row() escapes every value

    def row(self, r: PolicyRow | None) -> str:
        if r is None:
            return self._row(None, None, None)
        return self._row(r, r.policy, r.status)

    def _row(self, r, p, s) -> str:
        pk = p.pk if p else ""
        state = s.state.value if s else ""
        classes = f"policy-row row-{state}{' row-risk' if r.at_risk else ''}" if r else "policy-row"
        row_id = f' id="p-{pk}"' if p else ""
        expires = "" if not r or r.expires_at_ms is None else r.expires_at_ms
        label = escape(p.account.label) if p else ""
        symbol = escape(p.switch_name) if p else ""
        covers = "" if r and r.covers_underlying else " hidden"
        whole = f' class="whole" title="{ACCOUNT_TITLE}"' if r and r.covers_account else ""
        if r is None:  # the template the board script clones: it gives the title to an account's row
            whole = f' data-whole-title="{ACCOUNT_TITLE}"'
        desired = ("Armed" if p.armed else "Disarmed") if p else ""
        status_class = f" status-{state}" if s else ""
        status_label = escape(s.state.label) if s else ""
        detail = escape(s.detail) if s else ""
        lapse = " hidden>"
        if r and r.lapse:
            lapse = f' title="{LAPSE_TITLE}">Orders cancelled {self._time(r.lapse.expired_at)}'
        held, held_class = " hidden>", ""
        if r and r.strategy:
            held = f">{escape(r.strategy_text)}"
            held_class = " held-on" if r.strategy["held"] else ""
        stake = f">{escape(r.stake_text)}" if r and r.stake_text else " hidden>"
        if r and r.stake and r.stake.gone_at:
            gone = f"{r.stake.gone_count} gone at {self._time(r.stake.gone_at)}"
            lapse = f' title="{LAPSE_TITLE}">Orders cancelled: {gone} (the exchange\'s answer)'
        confirmed = self._time(s.confirmed_at) if s and s.confirmed_at else "—"
        bar = r.remaining_pct if r else 0
        interval = f"{p.interval_s} s / {round(p.countdown_ms / 1000)} s" if p else ""
        error = escape(r.error_text) if r else ""
        html = (
            f'<tr class="{classes}"{row_id} data-policy-id="{pk}"'
            f' data-expires-at-ms="{expires}" data-countdown-ms="{p.countdown_ms if p else ""}">'
        )
        if self.can_operate:
            # Ticked rows are sent by the page's one `selection` form (Arm / Disarm selected).
            html += (
                '<td class="col-select"><input type="checkbox" name="policy" form="selection"'
                f' value="{pk}" data-cell="select" aria-label="Select {symbol} of {label}"></td>'
            )
        html += (
            f'<td class="col-account" data-cell="account" title="{label}">{label}</td>'
            f'<td class="col-venue col-opt" data-cell="venue">{escape(r.venue) if r else ""}</td>'
            f'<td class="col-symbol">'
            f'<a data-cell="symbol"{whole} href="{self.url("policy", pk)}">{symbol}</a>'
            f'<span class="covers" data-cell="covers" title="{COVERS_TITLE}"{covers}>underlying</span>'
            f'<span class="venue-inline" data-cell="venue-inline">{escape(r.venue) if r else ""}</span>'
            f'<div class="account-inline" data-cell="account-inline" title="{label}">{label}</div></td>'
            f'<td class="col-desired" data-cell="desired">{desired}</td>'
            f'<td class="col-status">'
            f'<span class="status{status_class}" data-cell="status">{status_label}</span>'
            f'<div class="detail" data-cell="detail">{detail}</div>'
            f'<div class="lapse" data-cell="lapse"{lapse}</div>'
            f'<div class="held{held_class}" data-cell="held"{held}</div>'
            f'<div class="stake" data-cell="stake"{stake}</div></td>'
            f'<td class="col-since num" data-cell="confirmed">{confirmed}</td>'
            f'<td class="col-remaining num"><span class="countdown" data-cell="remaining">'
            f"{r.remaining_text if r else ''}</span>"
            '<svg class="bar" viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true">'
            '<rect class="bar-track" width="100" height="4"/>'
            f'<rect class="bar-fill" data-cell="bar" width="{bar}" height="4"/></svg></td>'
            f'<td class="col-interval num col-opt" data-cell="interval">{interval}</td>'
            f'<td class="col-error" data-cell="error">{error}</td>'
        )
        if self.can_operate:
            armed, failing = (p.armed, r.failing) if r else (False, False)
            hide_arm = _hidden(armed and not failing)
            hide_disarm = _hidden(bool(r) and not armed and not failing)
            html += (
                '<td class="col-actions">'
                '<button type="submit" form="row-action" class="btn btn-arm" data-form="arm"'
                f' formaction="{self.url("policy_arm", pk)}"{hide_arm}>Arm</button>'
                '<button type="submit" form="row-action" class="btn btn-disarm" data-form="disarm"'
                f' formaction="{self.url("policy_disarm", pk)}"{hide_disarm}>Disarm</button></td>'
            )
        return html + "</tr>"

    def _time(self, moment) -> str:
        return clock(moment, self.zone)
