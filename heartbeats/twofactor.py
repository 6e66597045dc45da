"""The second factor: who owes one, whether this session has given it and how long ago, and its audit trail.

Devices are django-otp's: authenticator apps (TOTP, with the key encrypted at rest: models/devices.py),
passkeys and security keys (django-otp-webauthn), and one-time recovery codes (static tokens, stored as
digests: `recovery_digest`), which exist only beside an app or a passkey.

- A user owes a second factor at sign-in when they have an app or a passkey, and -- with REQUIRE_2FA, the
  production default -- when they are an operator, a key admin or a superuser (they are led to enrol first).
- Step-up: Disarm all, key changes, device changes and new recovery codes ask for the factor again when the
  session's last one is older than SECOND_FACTOR_FRESH_SECONDS (`fresh`).
- Failed second factors count towards the same lockout as failed passwords (django-axes: that username from
  that address), and failures are forgotten only when a sign-in is complete (`sign_in_complete`).
- Adding, removing, resetting, each failure and each success are written to the audit trail.
"""

import hashlib
import logging
import os
import re
import time
from base64 import b32encode
from functools import cache
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db import transaction
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from heartbeats.domain import audit, roles
from heartbeats.models import Action, AuthenticatorApp

log = logging.getLogger(__name__)

# The session key of a reason kept across a step-up (draft_reason), and how much of it is kept.
DRAFT_REASON = "cg_draft_reason"
REASON_KEPT = 2000

# When this session last gave its second factor (time.time()).
SESSION_PASSED_AT = "cg_second_factor_at"
# An authenticator app being added: its key, kept in the session until the first code proves it.
SESSION_PENDING_TOTP = "cg_pending_totp_key"
# Recovery codes made for this session and not shown yet (a passkey enrolled through a script).
SESSION_NEW_CODES = "cg_new_recovery_codes"

RECOVERY_CODE_COUNT = 10
# A recovery code is 80 random bits (16 base32 characters). A StaticToken stores never the code but its
# digest: stretched, salted per device, and cut to the 16 characters a StaticToken holds.
RECOVERY_CODE_BYTES = 10
RECOVERY_DIGEST_ROUNDS = 50_000
KIND_TOTP, KIND_PASSKEY, KIND_RECOVERY = "totp", "passkey", "recovery"
KIND_LABELS = {
    KIND_TOTP: "authenticator app",
    KIND_PASSKEY: "passkey or security key",
    KIND_RECOVERY: "recovery code",
}


# -- Who owes what -----------------------------------------------------------------------------------------


def privileged(user) -> bool:
    """Operators, key admins and superusers: the people who can pull the plug or replace the keys."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or roles.can_operate(user) or roles.can_manage_keys(user))
    )


def required_for(user) -> bool:
    return bool(settings.REQUIRE_2FA) and privileged(user)


def primary_devices(user) -> list:
    """The user's confirmed authenticator apps and passkeys (what a recovery code stands in for)."""
    if not user.is_authenticated:
        return []
    return [
        *AuthenticatorApp.objects.devices_for_user(user, confirmed=True).order_by("created_at", "pk"),
        *WebAuthnCredential.objects.devices_for_user(user, confirmed=True).order_by("created_at", "pk"),
    ]


def has_primary(user) -> bool:
    """Has the user a confirmed app or passkey? One query, asked on every request of a signed-in user who
    has not given a factor in this session (SecondFactorMiddleware)."""
    if not user.is_authenticated:
        return False
    return _with_primary().filter(pk=user.pk).exists()


@cache
def _with_primary():
    """Users with a confirmed app or passkey: built once per process (building it cost more than asking it)
    and narrowed to one user for each request."""
    from django.contrib.auth import get_user_model
    from django.db.models import Exists, OuterRef

    def confirmed(model):
        return Exists(model.objects.filter(user=OuterRef("pk"), confirmed=True))

    return get_user_model().objects.filter(confirmed(AuthenticatorApp) | confirmed(WebAuthnCredential))


def recovery_device(user) -> StaticDevice | None:
    return StaticDevice.objects.devices_for_user(user, confirmed=True).first()


def recovery_codes_left(user) -> int:
    device = recovery_device(user)
    return device.token_set.count() if device else 0


def expected(user) -> bool:
    """Does this user give a second factor at sign-in? Kept on the user object, which lives for one request
    (the middleware, the views and the admin all ask)."""
    if not user.is_authenticated:
        return False
    known = getattr(user, "_cg_second_factor_expected", None)
    if known is None:
        known = required_for(user) or has_primary(user)
        user._cg_second_factor_expected = known
    return known


def passed(request) -> bool:
    """This session has given a second factor (django-otp's OTPMiddleware checks the device still exists)."""
    user = request.user
    return bool(user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def satisfied(request) -> bool:
    """Signed in as far as this user must be: password, and the second factor if one is owed."""
    user = request.user
    return user.is_authenticated and (passed(request) or not expected(user))


def age_seconds(request) -> float | None:
    at = request.session.get(SESSION_PASSED_AT)
    if not passed(request) or not isinstance(at, int | float):
        return None
    return max(0.0, time.time() - at)


def fresh(request) -> bool:
    """May this session do a step-up action (Disarm all, a key change…) now? Yes when the user has no factor
    to step up with (and none is owed), or gave theirs less than SECOND_FACTOR_FRESH_SECONDS ago."""
    user = request.user
    if not user.is_authenticated:
        return False
    if not expected(user):
        return True
    age = age_seconds(request)
    return age is not None and age <= settings.SECOND_FACTOR_FRESH_SECONDS


# -- Verifying -----------------------------------------------------------------------------------------------


def normalise_code(code: str) -> str:
    return re.sub(r"[\s-]+", "", str(code or "")).lower()[:32]


def looks_like_app_code(code: str) -> bool:
    return code.isdigit() and len(code) == 6


def _model_for(code: str):
    """Six digits are an app's code, anything else a recovery code: a wrong guess slows down one kind only."""
    return AuthenticatorApp if looks_like_app_code(code) else StaticDevice


def throttled(user, code: str) -> int:
    """Seconds until django-otp's own throttle lets the devices that `code` would be tried on be tried again
    (0: now). Each wrong code doubles the wait of the devices it was tried on."""
    wait = 0
    for device in _model_for(normalise_code(code)).objects.devices_for_user(user, confirmed=True):
        allowed, data = device.verify_is_allowed()
        if not allowed and data and data.get("locked_until"):
            wait = max(wait, int((data["locked_until"] - timezone.now()).total_seconds()) + 1)
    return wait


def match_code(user, code: str):
    """The device (an authenticator app, or the recovery codes) that accepts `code`, or None. A recovery code
    is used up. Each device's verification locks its row, so a code cannot be used twice at once."""
    code = normalise_code(code)
    if not code:
        return None
    with transaction.atomic():
        for device in _model_for(code).objects.devices_for_user(user, confirmed=True).select_for_update():
            # Recovery codes are stored as digests (`recovery_digest`): the typed code is digested to match.
            given = recovery_digest(device.pk, code) if isinstance(device, StaticDevice) else code
            if device.verify_token(given):
                return device
    return None


def new_recovery_code() -> str:
    return b32encode(os.urandom(RECOVERY_CODE_BYTES)).decode().lower()


def recovery_digest(device_pk: int, code: str) -> str:
    """What a StaticToken stores for `code` (already normalised: lower case, no spaces or dashes)."""
    salt = f"countdown-guard recovery code {device_pk}".encode()
    raw = hashlib.pbkdf2_hmac("sha256", code.encode(), salt, RECOVERY_DIGEST_ROUNDS)
    return b32encode(raw).decode().lower()[:16]


def store_recovery_code(device: StaticDevice, code: str) -> None:
    """Keep one recovery code of `device`: its digest, never the code itself."""
    device.token_set.create(token=recovery_digest(device.pk, normalise_code(code)))


def kind_of(device) -> str:
    if isinstance(device, AuthenticatorApp | TOTPDevice):
        return KIND_TOTP
    if isinstance(device, StaticDevice):
        return KIND_RECOVERY
    return KIND_PASSKEY


def device_label(device) -> str:
    return f"{KIND_LABELS[kind_of(device)]} “{device.name}”"


def record_passed(request, device, *, purpose: str) -> None:
    """The session gave its second factor with `device`: remember it and when, forget failed attempts."""
    request.session.cycle_key()  # a new session id for the stronger sign-in
    otp_login(request, device)
    request.session[SESSION_PASSED_AT] = time.time()
    _forget_failures(request, request.user)
    changes = {"device": device_label(device)}
    if kind_of(device) == KIND_RECOVERY:
        changes["recovery codes left"] = device.token_set.count()
    audit.record(
        Action.SECOND_FACTOR_PASSED,
        user=request.user,
        ip=audit.client_ip(request),
        reason=purpose,
        changes=changes,
    )


def locked(request) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.is_locked(request, {"username": request.user.get_username()})


def record_failure(request, *, kind: str, detail: str) -> bool:
    """A wrong second factor: audited, and counted by the sign-in lockout. When that locks the username at
    this address, the session is ended (the password must be given again, and is locked out too). Returns
    True when locked."""
    from axes.handlers.proxy import AxesProxyHandler

    user = request.user
    username = user.get_username()
    audit.record(
        Action.SECOND_FACTOR_FAILED,
        user=user,
        ip=audit.client_ip(request),
        reason=detail,
        changes={"method": KIND_LABELS.get(kind, kind)},
    )
    log.info("Failed second factor (%s) for %r", kind, username)
    AxesProxyHandler.user_login_failed(sender=__name__, credentials={"username": username}, request=request)
    if getattr(request, "axes_locked_out", False) or locked(request):
        logout(request)
        return True
    return False


def _forget_failures(request, user) -> None:
    """The sign-in is complete: failed attempts for this username from this address no longer count."""
    from axes.handlers.proxy import AxesProxyHandler

    handler = AxesProxyHandler.get_implementation()
    reset = getattr(handler, "reset_user_attempts", None)
    if reset is not None:
        AxesProxyHandler.update_request(request)
        reset(request, {"username": user.get_username()})


@receiver(user_logged_in, dispatch_uid="countdown_guard_sign_in_complete")
def _password_accepted(sender, request, user, **kwargs):
    # Without a second factor to give, the password completes the sign-in; otherwise record_passed does.
    if request is not None and not expected(user):
        _forget_failures(request, user)


# -- Enrolling and removing ----------------------------------------------------------------------------------


def new_totp_key() -> str:
    from django_otp.util import random_hex

    return random_hex(20)


def totp_matches(key_hex: str, code: str) -> int | None:
    """The time step at which `code` is right for the key being added (one step of drift either way)."""
    code = normalise_code(code)
    if not code.isdigit():
        return None
    totp = TOTP(bytes.fromhex(key_hex), step=30, t0=0, digits=6, drift=0)
    for drift in (0, -1, 1):
        totp.drift = drift
        if totp.token() == int(code):
            return totp.t()
    return None


def add_totp(request, key_hex: str, *, name: str, last_t: int) -> AuthenticatorApp:
    device = AuthenticatorApp.objects.create(
        user=request.user, name=name[:64], key=key_hex, confirmed=True, last_t=last_t
    )
    record_added(request, device)
    return device


def record_added(request, device) -> None:
    audit.record(
        Action.SECOND_FACTOR_ADDED,
        user=request.user,
        ip=audit.client_ip(request),
        changes={"device": device_label(device)},
    )


def issue_codes_if_first(request) -> list[str]:
    """The first app or passkey brings a set of recovery codes (returned, to be shown once)."""
    if recovery_device(request.user) is None:
        return issue_recovery_codes(request)
    return []


def totp_uri(user, key_hex: str) -> str:
    """The otpauth:// address an authenticator app scans (issuer and account shown in the app)."""
    device = AuthenticatorApp(user=user, key=key_hex, name="pending")
    return device.config_url


def key_base32(key_hex: str) -> str:
    """The key as an app takes it when typed in: base32, in groups of four."""
    from base64 import b32encode

    text = b32encode(bytes.fromhex(key_hex)).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def qr_data_uri(text: str) -> str:
    """A QR code of `text` as an SVG data: URI (the Content-Security-Policy allows data: images only)."""
    import segno

    return segno.make(text, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


def fresh_minutes() -> str:
    seconds = int(settings.SECOND_FACTOR_FRESH_SECONDS)
    if seconds >= 60 and seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def step_up(request, what: str, *, back: str | None = None):
    """Ask for the second factor again before `what`. Opening a page goes to the verify page, which leads back
    to it; a form sent with a stale factor is refused, with nothing done, and says how to go on."""
    back = back or request.get_full_path()
    verify_url = f"{reverse('second_factor_verify')}?{urlencode({'next': back})}"
    fresh_for = fresh_minutes()
    if request.method in ("GET", "HEAD"):
        messages.info(request, f"{what} asks for your second factor again (it is good for {fresh_for}).")
        return redirect(verify_url)
    reason = request.POST.get("reason", "")
    if reason.strip():
        # Typed in the middle of an incident: the page shows it again once the factor is given.
        request.session[DRAFT_REASON] = {"path": urlsplit(back).path, "reason": reason[:REASON_KEPT]}
    return render(
        request,
        "heartbeats/step_up.html",
        {"what": what, "verify_url": verify_url, "fresh_for": fresh_for},
        status=403,
    )


def draft_reason(request) -> str:
    """The reason typed into a form that a stale factor refused, given back once to the same page."""
    draft = request.session.get(DRAFT_REASON) if request.method == "GET" else None
    if not draft or draft.get("path") != request.path:
        return ""
    del request.session[DRAFT_REASON]
    return str(draft.get("reason", ""))


def issue_recovery_codes(request) -> list[str]:
    """A new set of one-time recovery codes for the signed-in user; the old set stops working."""
    user = request.user
    codes = []
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, defaults={"name": "Recovery codes", "confirmed": True}
        )
        device.token_set.all().delete()
        for _ in range(RECOVERY_CODE_COUNT):
            code = new_recovery_code()
            store_recovery_code(device, code)
            codes.append(code)
        audit.record(
            Action.RECOVERY_CODES,
            user=user,
            ip=audit.client_ip(request),
            changes={"recovery codes": RECOVERY_CODE_COUNT},
        )
    return codes


def find_device(user, kind: str, pk) -> object | None:
    model = {KIND_TOTP: AuthenticatorApp, KIND_PASSKEY: WebAuthnCredential}.get(kind)
    if model is None:
        return None
    try:
        return model.objects.devices_for_user(user, confirmed=None).get(pk=int(pk))
    except (ValueError, TypeError, model.DoesNotExist):
        return None


def removal_refusal(user, device) -> str | None:
    others = [d for d in primary_devices(user) if not (type(d) is type(device) and d.pk == device.pk)]
    if not others and required_for(user):
        return (
            "This is your only authenticator app or passkey, and your role needs one: add another before "
            "removing it."
        )
    return None


def remove_device(request, device) -> None:
    """Delete one of the signed-in user's apps or passkeys; the last one takes the recovery codes with it."""
    user = request.user
    with transaction.atomic():
        label = device_label(device)
        device.delete()
        removed = [label]
        if not has_primary(user):
            gone = StaticDevice.objects.filter(user=user)
            if gone.exists():
                removed.append("recovery codes")
                gone.delete()
        audit.record(
            Action.SECOND_FACTOR_REMOVED,
            user=user,
            ip=audit.client_ip(request),
            changes={"removed": removed},
        )
    if not has_primary(user):
        request.session.pop(SESSION_PASSED_AT, None)
        request.session.pop(DEVICE_ID_SESSION_KEY, None)


def reset_devices(target, *, by, ip, reason: str = "", keep_session: str | None = None) -> list[str]:
    """Remove every second-factor device of `target` (a superuser's reset, or the console's) and end all their
    sessions but `keep_session` (the resetting superuser's own, when they reset themselves): a session opened
    before the reset -- perhaps the one a lost phone's thief holds -- must not enrol a new device without the
    password. They sign in and enrol again."""
    with transaction.atomic():
        removed = [device_label(d) for d in primary_devices(target)]
        if StaticDevice.objects.filter(user=target).exists():
            removed.append("recovery codes")
        AuthenticatorApp.objects.filter(user=target).delete()
        TOTPDevice.objects.filter(user=target).delete()  # none since migration 0016; never one left behind
        WebAuthnCredential.objects.filter(user=target).delete()
        StaticDevice.objects.filter(user=target).delete()
        ended = end_sessions(target, keep=keep_session)
        audit.record(
            Action.SECOND_FACTOR_RESET,
            user=by,
            username=None if by is not None and by.is_authenticated else "(console)",
            ip=ip,
            reason=reason or f"Second factor of {target.get_username()} reset",
            changes={"user": target.get_username(), "removed": removed, "sessions ended": ended},
        )
    return removed


def end_sessions(user, *, keep: str | None = None) -> int:
    """Sign `user` out everywhere (but the session `keep`); returns how many sessions ended. Sessions live in
    the database (Django's default engine): each live one is read to find its user."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).exclude(session_key=keep or ""):
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk):
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)
