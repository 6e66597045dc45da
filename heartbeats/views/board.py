"""The board (home page) and the JSON status view its script polls."""

from django import forms
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from heartbeats.desk import presenters
from heartbeats.domain import roles
from heartbeats.forms import PlainNumbersMixin
from heartbeats.models import ExchangeAccount, Status
from heartbeats.views.access import parse_id, viewer_required
from heartbeats.views.board_rows import RowRenderer


class BoardFilter(PlainNumbersMixin, forms.Form):
    account = forms.ModelChoiceField(
        queryset=ExchangeAccount.objects.without_secrets().order_by("label"),
        required=False,
        empty_label="All accounts",
    )
    status = forms.ChoiceField(
        choices=[
            ("", "All statuses"),
            (presenters.RISK_FILTER, "At risk (expired, failing, uncertain, late)"),
        ]
        + list(Status.choices),
        required=False,
    )
    sort = forms.ChoiceField(choices=list(presenters.SORTS.items()), required=False)
    symbol = forms.CharField(
        required=False,
        max_length=32,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Symbol", "size": 10, "autocomplete": "off"}),
    )
    size = forms.ChoiceField(choices=[("", "Normal type"), ("large", "Large type")], required=False)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def snapshot_args(self) -> dict:
        """The filters as snapshot() arguments; invalid ones fall back to "everything, riskiest first"."""
        data = self.cleaned_data if self.is_valid() else {}
        account = data.get("account")
        return {
            "account_id": account.pk if account else None,
            "status": data.get("status") or None,
            "sort": data.get("sort") or "risk",
            "symbol": data.get("symbol") or None,
        }

    def page_number(self) -> int:
        return (self.cleaned_data.get("page") if self.is_valid() else None) or 1


def query_without_page(request) -> str:
    """The board's query string without its page number, for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@viewer_required
def board(request):
    filters = BoardFilter(request.GET or None)
    args = filters.snapshot_args() if filters.is_bound else {}
    snap = presenters.snapshot(**args)
    page = presenters.page_of(snap.rows, filters.page_number() if filters.is_bound else 1)
    rows = RowRenderer(roles.can_operate(request.user))
    return render(
        request,
        "heartbeats/board.html",
        {
            "snap": snap,
            "page": page,
            "rows_html": rows.rows(page.rows),
            "row_template_html": rows.blank(),
            "filters": filters if filters.is_bound else BoardFilter(),
            "filter_errors": filters.errors if filters.is_bound else {},
            "filtered": any(args.get(k) for k in ("account_id", "status", "symbol")),
            "status_query": request.GET.urlencode(),
            "pager_query": query_without_page(request),
            # The filters "every policy this filter matches" sends to the selection page.
            "selection_filters": [
                (name, request.GET[name]) for name in ("account", "status", "symbol") if request.GET.get(name)
            ],
        },
    )


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's). The file's fingerprinted name
    is known only once collectstatic has run, so it is looked up per request."""
    return redirect(static("heartbeats/favicon.svg"))


@never_cache
@require_GET
@viewer_required
def status_json(request):
    """Polled every second by the live pages. Same filters and page as the board, plus `policy` for one
    policy."""
    filters = BoardFilter(request.GET)
    if not filters.is_valid():
        errors = {name: [str(e) for e in errs] for name, errs in filters.errors.items()}
        return JsonResponse({"error": "Invalid filter.", "fields": errors}, status=400)
    args = filters.snapshot_args()
    if request.GET.get("policy"):
        try:
            args["policy_id"] = parse_id(request.GET["policy"], "policy")
        except Http404 as e:
            return JsonResponse({"error": str(e)}, status=400)
    if request.GET.get("rows") == "none":
        # Pages that only need the engine and budget figures (e.g. an operation's results).
        args["policy_id"] = 0
    snap = presenters.snapshot(**args)
    # The board's page of rows (the first unless `page` says otherwise), never every row at once.
    return JsonResponse(snap.as_json(presenters.page_of(snap.rows, filters.page_number())))
