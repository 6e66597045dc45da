"""Error pages that say what happened: the CSRF refusal (settings.CSRF_FAILURE_VIEW)."""

from django.middleware import csrf
from django.shortcuts import render

# The first words of each of Django's CSRF refusal reasons (django.middleware.csrf.REASON_*).
_FOREIGN_ORIGIN = csrf.REASON_BAD_ORIGIN.split(" - ")[0]
_REFERER = "Referer checking failed"


def _explain(request, reason: str) -> dict:
    ours = f"{request.scheme}://{request.get_host()}"
    if reason.startswith(_FOREIGN_ORIGIN):
        sent_from = request.META.get("HTTP_ORIGIN", "")
        return {
            "title": "Refused: the form came from another site",
            "lead": f"This request was sent from {sent_from[:200] or 'another site'}, not from the dashboard "
            f"at {ours}. Countdown Guard accepts forms only from its own pages, so a page elsewhere cannot "
            "act in your name. Nothing was changed.",
            "hint": "If you did use the dashboard, open it at its own address and try again. If it is served "
            "under another address (a proxy), that address must be listed in CG_CSRF_TRUSTED_ORIGINS.",
            "kind": "foreign-origin",
        }
    if reason.startswith(_REFERER):
        return {
            "title": "Refused: the form's origin could not be checked",
            "lead": "Over https a form must say which page it was sent from (the Referer header), and this "
            "one did not, or named a page elsewhere or over plain http. Nothing was changed.",
            "hint": "A browser extension or privacy setting that strips the Referer header causes this; "
            "allow it for this site, reload the page and try again.",
            "kind": "referer",
        }
    if reason == csrf.REASON_NO_CSRF_COOKIE:
        return {
            "title": "Refused: your browser sent no security cookie",
            "lead": "The request came without the dashboard's security cookie, so it could not be told apart "
            "from one forged by another site. Nothing was changed.",
            "hint": "Allow cookies for this site, reload the page and try again.",
            "kind": "no-cookie",
        }
    return {
        "title": "The form had expired",
        "lead": "The request was refused because its security token was missing or stale (for example after "
        "signing in again in another tab). Nothing was changed.",
        "hint": "Go back, reload the page and try again.",
        "kind": "stale-token",
    }


def csrf_failure(request, reason="", template_name="403_csrf.html"):
    return render(request, template_name, _explain(request, reason), status=403)
