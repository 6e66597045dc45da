"""Keeps signatures, signed query strings, API keys, secrets, private keys, ping keys and tokens out of text
and log records.

`redact()` is applied to every message the exchange client puts into an exception. `RedactingFilter` is the
last line of defence on the log handlers (settings.LOGGING) and on urllib3's connection-pool logger, which
writes the full request URL (query string and signature included) at DEBUG.
"""

import logging
import re

_MARK = "<redacted>"
# A value runs until a separator: '&' in query strings, quotes/commas/braces in reprs and JSON, whitespace.
_VALUE = r"[^&\s'\"<>,;)}\]]+"
_PATTERNS = [
    # signature=…, also inside URL-encoded text (signature%3D…) and "signature": "…" in JSON or dict reprs.
    re.compile(r"(signature(?:=|%3D))" + _VALUE, re.IGNORECASE),
    re.compile(r"""(['"]?signature['"]?\s*:\s*['"]?)""" + _VALUE, re.IGNORECASE),
    # The API key header, however it is printed: X-MBX-APIKEY: k, 'X-MBX-APIKEY': 'k', X-MBX-APIKEY=k.
    re.compile(r"""(X-MBX-APIKEY['"]?\s*[:=]\s*['"]?)""" + _VALUE, re.IGNORECASE),
    # OKX's credential headers, printed the same ways: OK-ACCESS-KEY, -SIGN and -PASSPHRASE.
    re.compile(r"""(OK-ACCESS-(?:KEY|SIGN|PASSPHRASE)['"]?\s*[:=]\s*['"]?)""" + _VALUE, re.IGNORECASE),
    # A strategy's ping URL (/ping/<key>: the key is the secret), also URL-encoded (a `next=` parameter), and
    # a bearer token, as access logs and gunicorn's DEBUG request line show them.
    re.compile(r"((?:/|%2F)ping(?:/|%2F))[A-Za-z0-9_-]{16,64}", re.IGNORECASE),
    re.compile(r"(Bearer\s+)" + _VALUE, re.IGNORECASE),
    # Credentials sent in a query string (?token=…, &access_token=…, ?password=…), refused or not.
    re.compile(
        r"([?&](?:[a-z_]*token|auth|key|api[_-]?key|apikey|secret|password|passwd|pwd|sig)(?:=|%3D))"
        + _VALUE,
        re.IGNORECASE,
    ),
    # An API token anywhere (cg_ and 43 characters), e.g. pasted into a query string or a message.
    re.compile(r"\b(cg_)[A-Za-z0-9_-]{16,}"),
    re.compile(r"""(['"]?(?:[a-z_]*token|password)['"]?\s*:\s*['"])[^'"]+""", re.IGNORECASE),
    # Named secrets in key=value or mapping form: secret=…, 'api_key': '…', passphrase: …, and Kraken Futures'
    # signature header (Authent: …).
    re.compile(
        r"""(\b(?:api[_-]?key|api[_-]?secret|secret(?:[_-]?key)?|key[_-]?passphrase|passphrase|private[_-]?key"""
        r"""|authent)"""
        r"""['"]?\s*[:=]\s*['"]?)""" + _VALUE,
        re.IGNORECASE,
    ),
]
# A whole PEM private key block (or what is left of one when a message was cut short).
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)


def redact(text: str) -> str:
    """`text` with every signature, API key header, named secret and PEM private key replaced."""
    text = _PEM.sub(f"-----{_MARK} PRIVATE KEY-----", text)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\1{_MARK}", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites any record whose message, traceback or stack carries a signature, a signed query string, an
    API key or a secret. Attach it to handlers (it then sees records from every logger, urllib3 included)
    or to a logger (it then sees that logger's own records before any handler, caplog included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break logging, nor bypass redaction
            message = f"{record.msg} {record.args!r}"
        cleaned = redact(str(message))
        if cleaned != record.msg or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatted once here so the traceback text is redacted; handlers then print the cached exc_text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
