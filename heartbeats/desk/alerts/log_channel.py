"""`log://`: a channel that writes alerts to Countdown Guard's own log. The demo ships one so a newcomer sees
alerts without setting anything up; a deployment can keep one as a record next to its log shipping."""

import logging

from apprise.decorators import notify

log = logging.getLogger("countdown_guard.alerts")


@notify(on="log", name="Countdown Guard log")
def write_to_log(body, title, notify_type, *args, **kwargs):
    level = logging.ERROR if str(notify_type).endswith("failure") else logging.WARNING
    log.log(level, "ALERT %s | %s", title, " / ".join(line for line in body.splitlines() if line.strip()))
    return True
