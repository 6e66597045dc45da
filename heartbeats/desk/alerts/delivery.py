"""Getting notifications to their channels, through apprise: one attempt at a time per notification, with
backoff between attempts, and a written record of each outcome (Notification rows).

Never on the beat path: the alerting runner calls this on a thread of its own, and every send has a time
limit. A channel's URL holds its service's token, so nothing here puts the URL, or any piece of it, in a
log line, an error message or a page.
"""

import logging
import re
from datetime import datetime, timedelta

import apprise
from apprise.conversion import convert_between
from django.conf import settings
from django.utils import timezone

from heartbeats.desk.alerts import log_channel  # noqa: F401  registers log://
from heartbeats.domain import metrics, outbound
from heartbeats.models.alerts import AlertChannel, Delivery, Notification, NotificationKind

log = logging.getLogger(__name__)
alerts_log = logging.getLogger("countdown_guard.alerts")

# A whole send (every plugin; apprise's own connect and read limits are 4 s each) ends by this.
SEND_TIMEOUT_S = 10.0
# Waits between attempts; the last repeats until the notification is given up on (settings).
BACKOFF_S = (10, 30, 60, 120, 300, 600, 900)
# While an attempt runs, the notification is not due for anyone else.
CLAIM = timedelta(seconds=60)


class ChannelURLError(ValueError):
    """The URL is not one apprise can send to; str() says so without repeating it."""


def check_url(url: str) -> None:
    """Refuse a URL apprise cannot use, or one naming a host the server may not send to, before it is
    stored (the addresses are checked again at every send: heartbeats.domain.outbound)."""
    if _service(url) is None:
        raise ChannelURLError(
            "This is not a notification URL Countdown Guard can send to (see the apprise URL formats: "
            "json://host/path, mailto://user:password@host, slack://..., tgram://..., pagerduty://...)."
        )
    why = outbound.url_refusal(url)
    if why:
        raise ChannelURLError(why)


def send(url: str, title: str, body: str, severity: str = "warning") -> tuple[bool, str]:
    """Send once; (delivered, why not) with the reason scrubbed of every piece of the URL.

    `title` and `body` are plain text and may carry people's words (a reason, an account label). apprise is
    told so (body_format=text), so it escapes them for whatever the channel renders: HTML for an e-mail's
    HTML part or Telegram, CommonMark for Teams, Slack's own escaping for Slack, nothing for plain channels.
    A title the channel shows on its own (not blended into the body, which apprise converts) is escaped
    here the same way."""
    service = _service(url)
    if service is None:
        return False, "The channel's URL is not one apprise understands."
    messages = []
    sender = apprise.Apprise()
    sender.add(service)
    try:
        with outbound.public_only() as refused:
            result = sender.notify(
                body=body,
                title=safe_title(service, title),
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=severity,
                timeout=SEND_TIMEOUT_S,
                log_callback=lambda entry, _service: messages.append(entry),
                log_level=logging.WARNING,
            )
    except Exception as exc:  # a plugin's own bug must not end the delivery thread
        return False, scrub(f"The notification service failed: {exc.__class__.__name__}.", url)
    if refused:
        return False, scrub(
            f"Not sent: {refused[0]}. Alerts go to public addresses only (CG_ALLOW_PRIVATE_ALERT_HOSTS).", url
        )[:300]
    if result:
        return True, ""
    reasons = [m.message for m in messages if m.level in ("WARNING", "ERROR", "CRITICAL")]
    status = getattr(getattr(result, "status", None), "name", "failed").lower()
    reason = reasons[-1] if reasons else f"Not delivered ({status})."
    return False, scrub(reason, url)[:300]


def safe_title(service, title: str) -> str:
    """The plain-text `title` as the channel will render it when it shows the title apart from the body."""
    if not title or service.title_maxlen <= 0:
        return title  # blended into the body: apprise converts it with the body
    if {"mailto", "mailtos"} & set(_protocols(service)):
        return title  # an e-mail's title is its Subject header: plain text whatever the body's format
    target = service.resolve_format(apprise.NotifyFormat.TEXT)
    return convert_between(apprise.NotifyFormat.TEXT, target, title)


def _protocols(service) -> list[str]:
    found = []
    for name in ("protocol", "secure_protocol"):
        value = getattr(service, name, None) or ()
        found += [value] if isinstance(value, str) else list(value)
    return found


def scrub(text: str, url: str) -> str:
    """`text` without the URL or any piece of it that could be a token (host names stay: they help)."""
    pieces = {url} | {p for p in re.split(r"[/:@?&=#,;]+", url.partition("://")[2]) if len(p) >= 6}
    for piece in sorted(pieces, key=len, reverse=True):
        if re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", piece) and not piece.replace(".", "").isdigit():
            continue  # a host name such as hooks.slack.com
        text = text.replace(piece, "…")
    return text


def due_ids(limit: int = 20) -> list[int]:
    """Notifications due for an attempt, each claimed for this caller (a conditional UPDATE per row: a
    process that lost the duty meanwhile cannot send the same one twice)."""
    return claim_due(limit)[0]


def claim_due(limit: int = 20) -> tuple[list[int], datetime | None]:
    """due_ids(), and when the next notification not yet due will be (None: none is waiting), from the same
    query."""
    now = timezone.now()
    rows = list(
        Notification.objects.filter(status__in=(Delivery.PENDING, Delivery.RETRYING))
        .order_by("next_attempt_at", "id")
        .values_list("id", "next_attempt_at")[: limit + 1]
    )
    claimed = []
    later = None
    for pk, due in rows[:limit]:
        if due > now:
            later = due
            break
        if Notification.objects.filter(pk=pk, next_attempt_at=due).update(next_attempt_at=now + CLAIM):
            claimed.append(pk)
    if later is None and len(rows) > limit:
        later = now  # more are due than one round takes
    return claimed, later


def deliver(pk: int) -> str:
    """One attempt at notification `pk`, recorded; returns its delivery status."""
    note = Notification.objects.select_related("channel").get(pk=pk)
    channel = note.channel
    if channel is None or (not channel.enabled and note.kind != NotificationKind.TEST):
        reason = "The channel was deleted." if channel is None else "The channel was disabled."
        return _record(note, False, reason, final=True)
    url = channel.url  # decrypted here, used below, never stored elsewhere
    delivered, reason = send(url, note.title, note.body, note.severity)
    return _record(note, delivered, reason)


def _record(note: Notification, delivered: bool, reason: str, *, final: bool = False) -> str:
    now = timezone.now()
    attempts = note.attempts + 1
    if delivered:
        status, next_at = Delivery.SENT, note.next_attempt_at
    elif final or now - note.created_at >= timedelta(hours=settings.ALERT_GIVE_UP_HOURS):
        status, next_at = Delivery.FAILED, note.next_attempt_at
    else:
        wait = BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1]
        status, next_at = Delivery.RETRYING, now + timedelta(seconds=wait)
    Notification.objects.filter(pk=note.pk).update(
        status=status,
        attempts=attempts,
        last_attempt_at=now,
        sent_at=now if delivered else None,
        next_attempt_at=next_at,
        last_error="" if delivered else reason,
    )
    metrics.count_alert_delivery(status)
    if not delivered:
        # The channel's name and the scrubbed reason; once per attempt is enough (backoff spaces them out).
        log.warning(
            "alert to channel %r not delivered (attempt %d, %s): %s",
            note.channel_name,
            attempts,
            status,
            reason,
        )
    return status


def send_test(channel: AlertChannel, *, username: str) -> Notification:
    """Send a test to `channel` now and record it; the returned row says what happened."""
    now = timezone.now()
    note = Notification.objects.create(
        created_at=now,
        next_attempt_at=now + CLAIM,  # not the runner's: this request sends it
        channel=channel,
        channel_name=channel.name,
        kind=NotificationKind.TEST,
        severity="info",
        title=f"Test from Countdown Guard ({channel.name})",
        body=f"{username} sent this test at {timezone.localtime(now):%Y-%m-%d %H:%M:%S %Z}. "
        "Alerts for this channel will arrive like this.",
        requested_by=username,
    )
    delivered, reason = send(channel.url, note.title, note.body, note.severity)
    _record(
        note, delivered, reason, final=True
    )  # a test is not retried: the person is waiting for the answer
    note.refresh_from_db()
    return note


def _service(url: str):
    if not url or len(url) > 2000:
        return None
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return None
    # Stated here rather than left to apprise's defaults: every call out has an explicit time limit.
    service.socket_connect_timeout = 4.0
    service.socket_read_timeout = 4.0
    return service
