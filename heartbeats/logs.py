"""Logging helpers that the LOGGING setting names."""

import json
import logging
from datetime import UTC, datetime


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
