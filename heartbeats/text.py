"""Free text people type -- reasons, labels, names -- is text that reads as it is.

Control characters, bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width and other
invisible characters can make the audit trail, a page or an alert read differently from what was typed (a
reason that shows "disarm BTC" while holding something else, two account labels that look the same). They
are refused wherever such text enters, with a message naming the character: the forms, the admin (model
field validators), the API's schemas and the functions that write a reason (domain.validation.plain_reason).
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# Unicode categories never typed on purpose: controls, format characters (bidi marks and overrides,
# zero-width spaces and joiners, the soft hyphen, tags), surrogates, private use, unassigned, and the line and
# paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Letters that render as nothing (Hangul fillers) and the braille blank: invisible, yet not format characters.
INVISIBLE = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"})
# A reason typed in a text area may run over lines; a label or a name may not.
LINE_BREAKS = frozenset("\r\n\t")


def refusal(value: str, *, multiline: bool = False) -> str:
    """Why `value` is not plain text ("" when it is), naming the first character at fault."""
    for position, char in enumerate(str(value), start=1):
        if multiline and char in LINE_BREAKS:
            continue
        category = unicodedata.category(char)
        if category not in REFUSED_CATEGORIES and char not in INVISIBLE:
            continue
        name = unicodedata.name(char, "")
        shown = f"U+{ord(char):04X}{' ' + name.lower() if name else ''}"
        if category == "Cc" or category in ("Zl", "Zp"):
            kind = "a control character or line break" if not multiline else "a control character"
        else:
            kind = "an invisible or direction-changing character"
        return (
            f"This text holds {kind} ({shown}) at position {position}: it could make it read differently "
            "from what it is. Type it again without it."
        )
    return ""


@deconstructible
class PlainText:
    """A field validator: `refusal()` as a ValidationError (code "not_plain_text")."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, value):
        why = refusal(value, multiline=self.multiline)
        if why:
            raise ValidationError(why, code="not_plain_text")

    def __eq__(self, other):
        return isinstance(other, PlainText) and other.multiline == self.multiline


one_line = PlainText()
multiline = PlainText(multiline=True)
