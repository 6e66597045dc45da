"""The admin site: the same sign-in as the dashboard (password, then the second factor where one is owed),
and no admin page for a session that still owes its second factor."""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from heartbeats import twofactor


class GuardAdminSite(admin.AdminSite):
    site_header = "Countdown Guard administration"
    site_title = "Countdown Guard"

    def has_permission(self, request):
        return super().has_permission(request) and twofactor.satisfied(request)

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


def _safe_next(request) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""
