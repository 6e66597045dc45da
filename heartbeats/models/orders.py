"""Per-symbol results of "Cancel orders now" (heartbeats.killswitch)."""

from django.db import models


class OrderKind(models.TextChoices):
    ORDERS = "orders", "Open orders"
    ALGO = "algo", "Conditional (algo) orders"


class CancelState(models.TextChoices):
    PENDING = "pending", "Sending"
    DONE = "done", "Cancelled"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Not sent"
    # The process sending it stopped (killed, its host gone) before the exchange answered.
    UNKNOWN = "unknown", "Unknown"


class OrderCancel(models.Model):
    """One cancel request of one Cancel orders now operation: a symbol's open orders or its algo orders."""

    operation = models.ForeignKey("heartbeats.Operation", on_delete=models.PROTECT, related_name="cancels")
    policy = models.ForeignKey(
        "heartbeats.CountdownPolicy", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    account_label = models.CharField(max_length=100)
    symbol = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=OrderKind.choices)
    state = models.CharField(max_length=8, choices=CancelState.choices, default=CancelState.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    # The orders of this kind the exchange listed for the symbol just before the cancel (None: not read, when
    # the minute's weight left room for the cancel only). Binance's answer to the cancel gives no count.
    found = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["account_label", "symbol", "kind"]

    def __str__(self):
        return f"{self.account_label} {self.symbol} {self.kind}: {self.state}"


class OrdersAtStake(models.Model):
    """What a lapse of this policy's countdown would cancel, as the exchange last answered: its symbol's
    open orders and, on USD-M, its conditional (algo) orders, which a lapse may leave standing."""

    policy = models.OneToOneField(
        "heartbeats.CountdownPolicy", primary_key=True, on_delete=models.CASCADE, related_name="stake"
    )
    orders = models.PositiveIntegerField(null=True, blank=True)
    algo_orders = models.PositiveIntegerField(null=True, blank=True)  # None: no Algo Service (COIN-M)
    buy_notional = models.FloatField(null=True, blank=True)
    sell_notional = models.FloatField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    # When the exchange's answer showed the orders gone after the countdown had run out: a lapse seen from
    # the exchange's side, not only inferred from the beats.
    gone_at = models.DateTimeField(null=True, blank=True)
    gone_count = models.PositiveIntegerField(null=True, blank=True)
    # One of the open orders of the last reading: once they are gone, the exchange's record of it (its
    # status and `updateTime`) says when they went.
    order_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "orders at stake"

    def __str__(self):
        return f"{self.policy_id}: {self.orders} orders, {self.algo_orders} conditional"
