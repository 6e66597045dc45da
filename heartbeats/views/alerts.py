"""The Alerts page: channels, what is wrong now, and every notification sent, retried or failed. Viewers
read it; key admins add, change, test and delete channels (a change asks for a fresh second factor, as an
account's key does: a channel's URL holds a service's token). Every change is audited."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from heartbeats import twofactor
from heartbeats.desk import presenters
from heartbeats.desk.alerts import delivery, ledger
from heartbeats.desk.presenters import failing_channels
from heartbeats.domain import audit, roles
from heartbeats.forms.alerts import ChannelForm, describe
from heartbeats.models import Action
from heartbeats.models.alerts import AlertChannel, Notification
from heartbeats.views.access import fresh_second_factor_required, parse_id, role_required, viewer_required

SHOWN = 100


_manager_required = role_required(
    roles.can_manage_alerts, "Only key admins manage alert channels. Nothing was changed."
)


def _channel(channel_id) -> AlertChannel:
    try:
        return AlertChannel.objects.prefetch_related("accounts").get(pk=parse_id(channel_id, "alert channel"))
    except AlertChannel.DoesNotExist:
        raise Http404("There is no such alert channel (it may have been deleted).") from None


@require_GET
@viewer_required
def alerts_page(request):
    channels = list(AlertChannel.objects.prefetch_related("accounts"))
    failing = {f["id"]: f for f in failing_channels()}
    for channel in channels:
        channel.failure = failing.get(channel.pk)
    return render(
        request,
        "heartbeats/alerts.html",
        {
            "channels": channels,
            "incidents": ledger.open_incidents(),
            "notifications": Notification.objects.order_by("-created_at", "-id")[:SHOWN],
            "can_manage": roles.can_manage_alerts(request.user),
            "fresh": twofactor.fresh(request),
            "verify_url": f"{reverse('second_factor_verify')}?{urlencode({'next': reverse('alerts')})}",
            "snap": presenters.snapshot(policy_id=0),
        },
    )


@sensitive_variables()
@sensitive_post_parameters("new_url")
@_manager_required
@fresh_second_factor_required("Adding an alert channel")
def channel_new(request):
    return _edit(request, None)


@sensitive_variables()
@sensitive_post_parameters("new_url")
@_manager_required
@fresh_second_factor_required("Changing an alert channel")
def channel_edit(request, channel_id):
    return _edit(request, _channel(channel_id))


def _edit(request, channel):
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        try:
            saved = form.save_audited(user=request.user, ip=audit.client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"Alert channel “{saved.name}” saved. Send it a test to see that it arrives."
            )
            return redirect("alerts")
    return render(
        request,
        "heartbeats/alert_channel.html",
        {"form": form, "channel": channel, "snap": presenters.snapshot(policy_id=0)},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@_manager_required
@fresh_second_factor_required("Deleting an alert channel", back="alerts")
def channel_delete(request, channel_id):
    channel = _channel(channel_id)
    with transaction.atomic():
        audit.record(
            Action.CHANNEL_DELETE,
            user=request.user,
            ip=audit.client_ip(request),
            reason=f"alert channel {channel.name}",
            changes={k: [v, None] for k, v in describe(channel).items()},
        )
        channel.delete()
    messages.success(
        request, f"Alert channel “{channel.name}” deleted. Its notifications stay in the record."
    )
    return redirect("alerts")


@require_POST
@_manager_required
@fresh_second_factor_required("Sending a test to an alert channel", back="alerts")
def channel_test(request, channel_id):
    channel = _channel(channel_id)
    audit.record(
        Action.CHANNEL_TEST,
        user=request.user,
        ip=audit.client_ip(request),
        reason=f"alert channel {channel.name}",
    )
    # Sent now, outside any transaction, within delivery.SEND_TIMEOUT_S: the person waits for the answer.
    note = delivery.send_test(channel, username=request.user.get_username())
    if note.status == "sent":
        messages.success(request, f"Test sent to “{channel.name}”: the service accepted it.")
    else:
        messages.error(request, f"Test to “{channel.name}” not delivered: {note.last_error}")
    return redirect("alerts")
