"""The admin site: the same sign-in as the dashboard (password, then the second factor where one is owed),
no admin page for a session that still owes its second factor, and no change through the admin without a
fresh one.

Every admin view passes through `admin_view`, so the step-up rule is kept here once, for every model
(ours, Django's users and groups, the task queue's) rather than in each ModelAdmin:

- a POST (a form, an action, a bulk edit, a deletion) from a session whose second factor is older than
  SECOND_FACTOR_FRESH_SECONDS is refused with 403 and nothing done, whatever model it is for;
- opening a page whose form could write (add, change, delete, a password) with a stale factor leads to the
  verify page first and back; reading needs nothing.
Signing out is the one POST that never asks. The view runs with its user and address as the audit trail's
actor (heartbeats.domain.audit.acting), so privilege changes made through it are audited with who made them.
"""

from functools import update_wrapper
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from heartbeats import twofactor
from heartbeats.domain import audit
from heartbeats.domain.validation import ID_DIGITS, not_an_id
from heartbeats.models import Operation

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The audit trail (heartbeats.models.Operation) leads the index: the app, the model and the latest rows.
AUDIT_APP, AUDIT_MODEL, AUDIT_NAME = "heartbeats", "Operation", "Operations (audit trail)"
AUDIT_SHOWN = 10
# Admin views that may POST without a fresh factor: signing out changes nothing but the session.
NO_STEP_UP = {"logout"}
# Pages whose form could write, and the permission that makes the form writable.
FORM_PAGES = {
    "add_view": "has_add_permission",
    "change_view": "has_change_permission",
    "delete_view": "has_delete_permission",
    "user_change_password": "has_change_permission",
}


class GuardAdminSite(admin.AdminSite):
    site_header = "Countdown Guard administration"
    site_title = "Countdown Guard"

    def has_permission(self, request):
        return super().has_permission(request) and twofactor.satisfied(request)

    def get_app_list(self, request, app_label=None):
        """Countdown Guard first, led by its audit trail; then the framework's apps, alphabetically."""
        apps = super().get_app_list(request, app_label)
        for app in apps:
            if app["app_label"] == AUDIT_APP:
                for model in app["models"]:
                    if model["object_name"] == AUDIT_MODEL:
                        model["name"] = AUDIT_NAME
                app["models"].sort(key=lambda m: (m["object_name"] != AUDIT_MODEL, m["name"]))
        return sorted(apps, key=lambda app: app["app_label"] != AUDIT_APP)

    def index(self, request, extra_context=None):
        """The index's side column shows the audit trail's latest operations, where Django shows only the
        admin's own log of this user's edits (a small part of what the desk records)."""
        latest = []
        if request.user.has_perm("heartbeats.view_operation"):
            latest = list(
                Operation.objects.select_related("account", "policy__account").order_by("-at")[:AUDIT_SHOWN]
            )
        return super().index(request, {"audit_trail": latest, **(extra_context or {})})

    def admin_view(self, view, cacheable=False):
        """Django's wrapper (sign-in, CSRF, no caching) around the step-up rule and the audit's actor."""

        def guarded(request, *args, **kwargs):
            _refuse_unplain_id(view, kwargs)
            what = step_up_needed(request, view)
            if what:
                return twofactor.step_up(request, what)
            with audit.acting(request.user, audit.client_ip(request)):
                return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(guarded, view), cacheable)

    def login(self, request, extra_context=None):
        """The dashboard's sign-in page, answering at the admin's address too."""
        target = _safe_next(request) or reverse("admin:index", current_app=self.name)
        user = request.user
        if user.is_authenticated:
            if not twofactor.satisfied(request):
                return redirect(f"{reverse('second_factor_verify')}?{urlencode({'next': target})}")
            if not (user.is_active and user.is_staff):
                raise PermissionDenied(
                    "Your account cannot open the admin: ask an administrator for a role on this desk."
                )
            return redirect(target)
        view = LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True)
        return view(request)


def step_up_needed(request, view) -> str:
    """What a stale second factor keeps this request from doing ("" when nothing: the factor is fresh, the
    request only reads, or it signs out)."""
    name = getattr(view, "__name__", "")
    if name in NO_STEP_UP or twofactor.fresh(request):
        return ""
    model_admin = getattr(view, "__self__", None)
    if not isinstance(model_admin, admin.ModelAdmin):
        model_admin = None
    if request.method in SAFE_METHODS:
        if name == "password_change":
            return "Changing your password"
        permission = FORM_PAGES.get(name)
        if model_admin is None or permission is None or not getattr(model_admin, permission)(request):
            return ""
    if model_admin is None:
        return "This change"
    return getattr(model_admin, "step_up_what", None) or f"Changing {model_admin.opts.verbose_name_plural}"


def _refuse_unplain_id(view, kwargs) -> None:
    """An integer key in an admin URL is plain ASCII digits, as on the pages (validation.plain_id): the admin
    would otherwise read "١" or "+1" as 1."""
    model_admin = getattr(view, "__self__", None)
    raw = kwargs.get("object_id", kwargs.get("id"))
    if raw is None or not isinstance(model_admin, admin.ModelAdmin):
        return
    if isinstance(model_admin.opts.pk, models.IntegerField) and not ID_DIGITS.fullmatch(str(raw)):
        raise Http404(not_an_id(raw, model_admin.opts.verbose_name))


def _safe_next(request) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""
