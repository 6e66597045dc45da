"""Keeps signatures, signed query strings and API keys out of log records."""

import logging
import re

_SIGNED = re.compile(r"(signature=)[^&\s'\"]+", re.IGNORECASE)
_APIKEY = re.compile(r"(X-MBX-APIKEY['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE)


def redact(text: str) -> str:
    text = _SIGNED.sub(r"\1<redacted>", text)
    return _APIKEY.sub(r"\1<redacted>", text)


class RedactingFilter(logging.Filter):
    """Last line of defence: rewrites any record whose message carries a signature or an API key header."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True
