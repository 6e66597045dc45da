"""Logging helpers that the LOGGING setting names."""

import logging


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
