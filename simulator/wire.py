"""Request parameters as Binance reads them: from the query string, a form body, or both.

The signed payload is the raw query string (signature removed) followed by the raw body, with no '&' between
them: the exact bytes the client sent, never a re-encoding of the decoded values.
"""

import re
from urllib.parse import parse_qsl, unquote_plus

from . import errors

_LONG = re.compile(r"[0-9]{1,20}")
_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}")


class Params:
    """The decoded parameters of one request, with Binance's validation of each type."""

    def __init__(self, query: str, body: str):
        query_unsigned, query_signatures = _without_signature(query)
        body_unsigned, body_signatures = _without_signature(body)
        self.payload = (query_unsigned + body_unsigned).encode("latin-1", errors="replace")
        signatures = query_signatures + body_signatures
        self.signature = signatures[0] if signatures else None
        self.values: dict[str, str] = {}
        # A malformed request is still counted and matched against faults; its error is raised when it is
        # processed, in the order Binance checks things.
        self.error: errors.BinanceError | None = errors.duplicate_parameter() if len(signatures) > 1 else None
        for raw in (query_unsigned, body_unsigned):
            for name, value in parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"):
                if name in self.values:
                    self.error = self.error or errors.duplicate_parameter()
                    continue
                self.values[name] = value

    def has(self, name: str) -> bool:
        return bool(self.values.get(name, "").strip())

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.values.get(name, "")
        if not value.strip():
            if required:
                raise errors.mandatory(name)
            return None
        return value  # not stripped: " 5000" is not a number to Binance either

    def long(self, name: str, required: bool = True) -> int | None:
        value = self.text(name, required)
        if value is None:
            return None
        if not _LONG.fullmatch(value):
            raise errors.illegal_chars(name, errors.LONG_RANGE)
        return int(value)

    def decimal(self, name: str, required: bool = True) -> str | None:
        value = self.text(name, required)
        if value is None:
            return None
        if not _DECIMAL.fullmatch(value):
            raise errors.illegal_chars(name, errors.DECIMAL_RANGE)
        return value

    def symbol(self, required: bool = True) -> str | None:
        value = self.text("symbol", required)
        if value is not None and not _SYMBOL.fullmatch(value):
            raise errors.illegal_chars("symbol", errors.SYMBOL_RANGE)
        return value

    def peek_long(self, name: str) -> int | None:
        """The value if well formed, else None: for matching faults before anything is validated."""
        value = self.values.get(name, "").strip()
        return int(value) if _LONG.fullmatch(value) else None


def _without_signature(raw: str) -> tuple[str, list[str]]:
    if "signature" not in raw:
        return raw, []
    kept, signatures = [], []
    for part in raw.split("&"):
        name, _, value = part.partition("=")
        if unquote_plus(name) == "signature":
            signatures.append(unquote_plus(value))
        else:
            kept.append(part)
    return "&".join(kept), signatures
