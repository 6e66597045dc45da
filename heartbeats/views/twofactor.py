"""The second factor's pages: give it (sign-in and step-up), see and change one's own devices, and the passkey
endpoints of django-otp-webauthn with the audit trail and the lockout added."""

from urllib.parse import urlencode

from axes.helpers import get_lockout_response
from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp_webauthn import exceptions as webauthn_errors
from django_otp_webauthn import views as webauthn_views

from heartbeats import passkeys, twofactor
from heartbeats.views.access import step_up


def _next(request, default=None) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default if default is not None else reverse("board")


def _locked_out(request, username: str):
    return get_lockout_response(request, None, {"username": username})


class CodeForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=64,
        strip=True,
        error_messages={"required": "Enter the code from your authenticator app, or a recovery code."},
    )


def _verify_context(request, form, next_url) -> dict:
    user = request.user
    primary = twofactor.primary_devices(user)
    return {
        "form": form,
        "next": next_url,
        "has_app": any(twofactor.kind_of(d) == twofactor.KIND_TOTP for d in primary),
        "has_passkey": any(twofactor.kind_of(d) == twofactor.KIND_PASSKEY for d in primary),
        "codes_left": twofactor.recovery_codes_left(user),
        "passkey_available": passkeys.available(request),
        "localhost_url": _localhost_url(request),
        "step_up": twofactor.passed(request),
        "fresh_minutes": twofactor.fresh_minutes(),
    }


@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
@login_required
def verify(request):
    """Give the second factor: at sign-in, or again for a step-up action (then `next` leads back to it)."""
    user = request.user
    next_url = _next(request)
    if not twofactor.has_primary(user):
        return redirect(f"{reverse('second_factor')}?{urlencode({'next': next_url})}")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        username = user.get_username()
        if twofactor.locked(request):
            logout(request)
            return _locked_out(request, username)
        wait = twofactor.throttled(user, form.cleaned_data["token"])
        if wait:
            # django-otp holds devices back after wrong codes; a code sent meanwhile is a guess all the same.
            detail = "Code sent while held back after wrong codes (not checked)"
            if twofactor.record_failure(request, kind=_kind_tried(form), detail=detail):
                return _locked_out(request, username)
            form.add_error(
                "token",
                f"Too many wrong codes in a row: wait {wait} s before the next try. Nothing was checked.",
            )
            status = 429
        else:
            device = twofactor.match_code(user, form.cleaned_data["token"])
            if device is not None:
                twofactor.record_passed(request, device, purpose=_purpose(request, next_url))
                return redirect(next_url)
            if twofactor.record_failure(request, kind=_kind_tried(form), detail="Wrong code"):
                return _locked_out(request, username)
            form.add_error("token", "That code is not right (or was already used). Try the current one.")
            status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "heartbeats/second_factor_verify.html",
        _verify_context(request, form, next_url),
        status=status,
    )


def _kind_tried(form) -> str:
    code = twofactor.normalise_code(form.cleaned_data.get("token", ""))
    return twofactor.KIND_TOTP if twofactor.looks_like_app_code(code) else twofactor.KIND_RECOVERY


def _purpose(request, next_url) -> str:
    return "step-up" if twofactor.passed(request) else "sign-in"


def _localhost_url(request) -> str:
    """This page at http://localhost (same port), where a browser allows passkeys without https."""
    from django.http.request import split_domain_port

    _domain, port = split_domain_port(request.get_host())
    return f"http://localhost{':' + port if port else ''}{request.get_full_path()}"


def _needs_passed(request):
    """A user with an app or a passkey changes their devices only from a session that gave it."""
    if twofactor.has_primary(request.user) and not twofactor.passed(request):
        return redirect(f"{reverse('second_factor_verify')}?{urlencode({'next': request.get_full_path()})}")
    return None


@require_http_methods(["GET"])
@login_required
def overview(request):
    """Your second factor: the apps, passkeys and recovery codes you have, and adding or removing them. A user
    who must enrol before anything else lands here."""
    refusal = _needs_passed(request)
    if refusal:
        return refusal
    user = request.user
    new_codes = request.session.pop(twofactor.SESSION_NEW_CODES, None)
    return render(
        request,
        "heartbeats/second_factor.html",
        {
            "devices": [
                {
                    "kind": twofactor.kind_of(d),
                    "label": twofactor.KIND_LABELS[twofactor.kind_of(d)],
                    "device": d,
                }
                for d in twofactor.primary_devices(user)
            ],
            "codes_left": twofactor.recovery_codes_left(user),
            "new_codes": new_codes,
            "required": twofactor.required_for(user),
            "enrolling": not twofactor.has_primary(user),
            "next": _next(request, default=""),
            "passkey_available": passkeys.available(request),
            "localhost_url": _localhost_url(request),
            "fresh_minutes": twofactor.fresh_minutes(),
        },
    )


class TotpForm(forms.Form):
    name = forms.CharField(label="Name", max_length=64, initial="Authenticator app", strip=True)
    token = forms.CharField(label="Code shown by the app", max_length=16, strip=True)


@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
@login_required
def totp_add(request):
    """Add an authenticator app: scan the code (or type the key), then prove it with one code."""
    refusal = _needs_passed(request)
    if refusal:
        return refusal
    if twofactor.has_primary(request.user) and not twofactor.fresh(request):
        return step_up(request, "Adding an authenticator app")
    key = request.session.get(twofactor.SESSION_PENDING_TOTP)
    if request.method == "GET" or not key:
        key = twofactor.new_totp_key()
        request.session[twofactor.SESSION_PENDING_TOTP] = key
    form = TotpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            step = twofactor.totp_matches(key, form.cleaned_data["token"])
            if step is None:
                form.add_error(
                    "token", "That code does not match: check the app's clock, then try the current one."
                )
            else:
                del request.session[twofactor.SESSION_PENDING_TOTP]
                first = not twofactor.has_primary(request.user)
                device = twofactor.add_totp(request, key, name=form.cleaned_data["name"], last_t=step)
                codes = twofactor.issue_codes_if_first(request)
                if first:
                    twofactor.record_passed(request, device, purpose="enrolment")
                return _after_enrolment(request, device, codes)
    device_uri = twofactor.totp_uri(request.user, key)
    return render(
        request,
        "heartbeats/second_factor_totp.html",
        {
            "form": form,
            "qr_data_uri": twofactor.qr_data_uri(device_uri),
            "key_b32": twofactor.key_base32(key),
            "next": _next(request, default=""),
        },
        status=status,
    )


def _after_enrolment(request, device, codes):
    messages.success(request, f"Added your {twofactor.device_label(device)}.")
    if codes:
        return render(
            request,
            "heartbeats/recovery_codes.html",
            {"codes": codes, "next": _next(request, default=reverse("second_factor"))},
        )
    return redirect(_next(request, default=reverse("second_factor")))


@require_POST
@login_required
def recovery_codes(request):
    """A new set of recovery codes (the old ones stop working), shown once."""
    refusal = _needs_passed(request)
    if refusal:
        return refusal
    if not twofactor.has_primary(request.user):
        messages.error(
            request, "Add an authenticator app or a passkey first: recovery codes stand in for one."
        )
        return redirect("second_factor")
    if not twofactor.fresh(request):
        return step_up(request, "New recovery codes", back=reverse("second_factor"))
    codes = twofactor.issue_recovery_codes(request)
    return render(
        request, "heartbeats/recovery_codes.html", {"codes": codes, "next": reverse("second_factor")}
    )


@require_POST
@login_required
def remove(request, kind, device_id):
    refusal = _needs_passed(request)
    if refusal:
        return refusal
    device = twofactor.find_device(request.user, kind, device_id)
    if device is None:
        messages.error(request, "There is no such device of yours. Nothing was removed.")
        return redirect("second_factor")
    if not twofactor.fresh(request):
        return step_up(request, "Removing a second-factor device", back=reverse("second_factor"))
    why_not = twofactor.removal_refusal(request.user, device)
    if why_not:
        messages.error(request, f"{why_not} Nothing was removed.")
        return redirect("second_factor")
    label = twofactor.device_label(device)
    twofactor.remove_device(request, device)
    messages.success(request, f"Removed your {label}.")
    return redirect("second_factor")


# -- Passkeys: django-otp-webauthn's endpoints, with step-up, audit and lockout ------------------------------


class StepUpNeeded(webauthn_errors.OTPWebAuthnApiError):
    status_code = 403
    default_code = "step_up_needed"
    default_detail = "Confirm with your second factor first (reload the page), then add the passkey."


class SignInLocked(webauthn_errors.OTPWebAuthnApiError):
    status_code = 403
    default_code = "locked_out"
    default_detail = "Too many failed sign-ins from this address: you were signed out. Try again later."


class BeginPasskeyRegistration(webauthn_views.BeginCredentialRegistrationView):
    def check_can_register(self):
        super().check_can_register()
        if twofactor.has_primary(self.request.user) and not twofactor.fresh(self.request):
            raise StepUpNeeded()


class CompletePasskeyRegistration(webauthn_views.CompleteCredentialRegistrationView):
    def check_can_register(self):
        super().check_can_register()
        if twofactor.has_primary(self.request.user) and not twofactor.fresh(self.request):
            raise StepUpNeeded()

    def post(self, *args, **kwargs):
        first = not twofactor.has_primary(self.request.user)
        response = super().post(*args, **kwargs)
        device = twofactor.find_device(self.request.user, twofactor.KIND_PASSKEY, _json_id(response))
        if device is not None:
            twofactor.record_added(self.request, device)
            codes = twofactor.issue_codes_if_first(self.request)
            if first:
                twofactor.record_passed(self.request, device, purpose="enrolment")
            if codes:
                self.request.session[twofactor.SESSION_NEW_CODES] = codes
        return response


def _json_id(response):
    import json

    try:
        return json.loads(response.content).get("id")
    except (ValueError, AttributeError):
        return None


class BeginPasskeyAuthentication(webauthn_views.BeginCredentialAuthenticationView):
    def check_can_authenticate(self):
        super().check_can_authenticate()
        if self.request.user.is_authenticated and twofactor.locked(self.request):
            raise SignInLocked()


class CompletePasskeyAuthentication(webauthn_views.CompleteCredentialAuthenticationView):
    """A passkey given as the second factor. A failed ceremony counts towards the lockout as a wrong code
    does."""

    def check_can_authenticate(self):
        super().check_can_authenticate()
        if not self.request.user.is_authenticated:
            raise webauthn_errors.NotAuthenticated()
        if twofactor.locked(self.request):
            logout(self.request)
            raise SignInLocked()

    def complete_auth(self, device):
        twofactor.record_passed(self.request, device, purpose=_purpose(self.request, ""))

    def handle_exception(self, exc):
        request = self.request
        counted = (
            isinstance(exc, webauthn_errors.OTPWebAuthnApiError)
            and not isinstance(exc, SignInLocked | webauthn_errors.NotAuthenticated)
            and request.user.is_authenticated
        )
        if counted and twofactor.record_failure(request, kind=twofactor.KIND_PASSKEY, detail=str(exc)):
            exc = SignInLocked()
        response = super().handle_exception(exc)
        # The JSON answer (read by the page's script) says it; axes' HTML lockout page would not be read.
        request.axes_locked_out = False
        return response
