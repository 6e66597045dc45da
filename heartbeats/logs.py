"""Logging helpers that the LOGGING setting names, and the redaction of every handler."""

import json
import logging
from datetime import UTC, datetime

from django.utils.log import AdminEmailHandler


def redact_every_handler(redacting_filter: type[logging.Filter]) -> int:
    """Put the redacting filter (heartbeats.exchange.redact.RedactingFilter, which LOGGING's own handlers
    have) on every log handler of this process that lacks it: gunicorn's error and access logs, a library's
    handler set up at import (django-q2's). A filter on a handler sees the records of every logger that
    reaches it, at every level. Returns how many it added."""
    known = list(logging.root.manager.loggerDict.values())  # placeholders have no handlers
    loggers = [logging.getLogger(), *(item for item in known if isinstance(item, logging.Logger))]
    added = 0
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, AdminEmailHandler):
                # Not a log line but an error report, built from the live exception (which the filter would
                # replace by text); its secrets are starred out by the views' sensitive_* decorators.
                continue
            if not any(isinstance(f, redacting_filter) for f in handler.filters):
                handler.addFilter(redacting_filter())
                added += 1
    return added


class BadRequestFilter(logging.Filter):
    """Django logs a request it refuses as suspicious (a Host not in ALLOWED_HOSTS, a body over the size
    limit, too many fields) at ERROR with the exception's traceback, and so mails it to the admins. Such a
    request is the client's mistake or a probe, answered with a 400: one warning line says all there is."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        message = " ".join(record.getMessage().split())
        record.msg = f"Bad request refused (400): {message}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (CG_LOG_FORMAT=json), for log collectors: a traceback is a field, not more
    lines. It formats the record as the handler's filters left it, so the "redact" filter still applies."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
            "pid": record.process,
            "thread": record.threadName,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
