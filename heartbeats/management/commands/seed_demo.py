"""Demo data for bin/demo: a user for each role, exchange accounts on the simulator with keys of all three
types (Binance futures accounts and an options account, an OKX account with its passphrase, a Kraken Futures
account), a dozen armed futures policies, two armed options underlyings and the OKX and Kraken Futures
accounts' whole-account switches, a strategy holding one of the policies (pinged by bin/strategy-ping), and
resting orders on the simulator for the countdowns to protect.

Idempotent. Passwords and keys are made once, kept in the ignored var/demo/ folder and reused; existing rows
are kept as people left them (a policy disarmed in the dashboard stays disarmed). What depends on this start
is refreshed: the accounts' simulator address, the simulator's accounts file, and (with --place-orders, once
the simulator runs) its resting orders, since the simulator forgets everything when it stops.
"""

import base64
import json
import os
import secrets
import string
from decimal import Decimal
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from heartbeats.desk import actions
from heartbeats.desk.strategies import pings
from heartbeats.domain import audit, roles
from heartbeats.exchange import venues
from heartbeats.models import (
    Action,
    AlertChannel,
    CountdownPolicy,
    Environment,
    ExchangeAccount,
    KeyType,
    Strategy,
    Venue,
)

USERS = [
    # username, role (None: superuser), what the sign-in is for
    ("viewer", roles.VIEWER, "reads everything, changes nothing"),
    ("operator", roles.OPERATOR, "arms, disarms, disarm all"),
    ("keyadmin", roles.KEY_ADMIN, "exchange accounts, API keys and policies"),
    ("admin", None, "superuser, Django admin"),
]

# label, venue, key type, policies as (symbol, countdown ms, interval s); an options policy's symbol is an
# underlying, whose countdown Binance wants at least 5,000 ms. Short intervals keep the board lively; together
# the USD-M policies project 370 of the 2400 request weight per minute an IP may use. OKX and Kraken Futures
# have one switch for the whole account (symbol ""), counted in whole seconds (OKX: 10 to 120 s), and limit
# each account on its own: 4 calls a minute here, of OKX's 60 and (25 each) of Kraken's 3,000.
ACCOUNTS = [
    (
        "Alpha desk",
        Venue.USDM,
        KeyType.ED25519,
        [
            ("BTCUSDT", 120_000, 30),
            ("ETHUSDT", 120_000, 30),
            ("SOLUSDT", 60_000, 10),
            ("BNBUSDT", 90_000, 20),
        ],
    ),
    (
        "Beta desk",
        Venue.USDM,
        KeyType.HMAC,
        [
            ("XRPUSDT", 60_000, 10),
            ("ADAUSDT", 120_000, 30),
            ("DOGEUSDT", 90_000, 20),
            ("LTCUSDT", 120_000, 30),
        ],
    ),
    (
        "Gamma desk",
        Venue.USDM,
        KeyType.RSA,
        [("BTCUSDT", 60_000, 10), ("LINKUSDT", 120_000, 30), ("AVAXUSDT", 90_000, 20)],
    ),
    ("Delta desk COIN-M", Venue.COINM, KeyType.ED25519, [("BTCUSD_PERP", 120_000, 30)]),
    ("Options desk", Venue.OPTIONS, KeyType.HMAC, [("BTCUSDT", 60_000, 10), ("ETHUSDT", 120_000, 30)]),
    ("OKX desk", Venue.OKX, KeyType.HMAC, [("", 60_000, 15)]),
    ("Kraken Futures desk", Venue.KRAKEN_FUTURES, KeyType.HMAC, [("", 60_000, 15)]),
]

# Resting orders on each armed policy's symbol: what the countdowns protect, and what the simulator cancels
# when one runs out.
ORDERS_PER_POLICY = 2
REFERENCE_PRICES = {
    symbol: Decimal(price)
    for symbol, price in [
        ("BTCUSDT", "60000"),
        ("ETHUSDT", "3000"),
        ("SOLUSDT", "150"),
        ("BNBUSDT", "600"),
        ("XRPUSDT", "0.5"),
        ("ADAUSDT", "0.4"),
        ("DOGEUSDT", "0.12"),
        ("LTCUSDT", "80"),
        ("LINKUSDT", "15"),
        ("AVAXUSDT", "30"),
        ("BTCUSD_PERP", "60000"),
        ("BTC-USDT-SWAP", "60000"),
        ("ETH-USDT-SWAP", "3000"),
        ("PF_XBTUSD", "60000"),
        ("PF_ETHUSD", "3000"),
    ]
}
# An options switch covers every option of its underlying, so the resting orders of an options policy sit on
# option contracts the simulator lists (simulator/symbols.py): one bid well below the market on each.
OPTION_ORDERS = {
    "BTCUSDT": [("BTC-261225-100000-C", "200"), ("BTC-261225-90000-P", "20000")],
    "ETHUSDT": [("ETH-261225-4000-C", "10"), ("ETH-261225-3000-P", "100")],
}
# A whole-account switch (OKX, Kraken Futures) covers every order of the account: its resting orders sit on
# instruments the simulator lists (simulator/okx_book.py, simulator/symbols.py), as (symbol, how many bids).
ACCOUNT_ORDERS = {
    Venue.OKX: [("BTC-USDT-SWAP", 2), ("ETH-USDT-SWAP", 1)],
    Venue.KRAKEN_FUTURES: [("PF_XBTUSD", 2), ("PF_ETHUSD", 1)],
}
DEMO_IP = "127.0.0.1"

# The demo strategy: name, and the one policy it holds (account label, symbol), and its grace in seconds.
# SOLUSDT's countdown is 60 s: stop bin/strategy-ping and its orders go within a minute and a half.
STRATEGY = ("demo-mm", "Alpha desk", "SOLUSDT", 20)


class Command(BaseCommand):
    help = "Create or refresh the demo users, simulator accounts and armed policies (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--simulator-url", default="http://127.0.0.1:8800", help="The simulator's base URL."
        )
        parser.add_argument(
            "--dashboard-url",
            default="http://127.0.0.1:8000",
            help="The dashboard's base URL, for the demo strategy's ping URL.",
        )
        parser.add_argument(
            "--place-orders",
            action="store_true",
            help="Place resting orders on the running simulator for every armed demo policy that has none.",
        )

    def handle(self, *args, simulator_url, dashboard_url, place_orders, **options):
        simulator_url = simulator_url.rstrip("/")
        demo_dir = Path(settings.VAR_DIR) / "demo"
        demo_dir.mkdir(parents=True, exist_ok=True)
        if place_orders:
            self._place_orders(simulator_url)
            return
        passwords = self._users(demo_dir)
        accounts = [self._account(demo_dir, simulator_url, *spec) for spec in ACCOUNTS]
        new_accounts = sum(is_new for _, is_new, _ in accounts)
        self.stdout.write(
            f"Accounts: {len(accounts)} on the simulator ({new_accounts} new; keys in {demo_dir / 'keys'})."
        )
        self._policies([(account, specs) for account, _, specs in accounts])
        self._strategy(demo_dir, dashboard_url.rstrip("/"))
        self._alert_channel()
        self._write_simulator_accounts(demo_dir, simulator_url)
        self._write_sign_ins(demo_dir, passwords)

    # Users ---------------------------------------------------------------------------------------------

    def _users(self, demo_dir: Path) -> dict[str, str]:
        """One user per role with a password made once and kept in var/demo/passwords.json."""
        path = demo_dir / "passwords.json"
        passwords = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        created = 0
        for username, role, _ in USERS:
            password = passwords.setdefault(username, _new_password())
            user, is_new = User.objects.get_or_create(username=username)
            created += is_new
            if role is None and not (user.is_superuser and user.is_staff):
                user.is_superuser = user.is_staff = True
                user.save(update_fields=["is_superuser", "is_staff"])
            # The printed sign-ins must work, even after someone changed a demo password in the admin.
            if is_new or not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            if role is not None:
                roles.grant(user, role)
        _write_private(path, json.dumps(passwords, indent=2) + "\n")
        self.stdout.write(f"Users: {len(USERS)} ({created} new).")
        return passwords

    def _write_sign_ins(self, demo_dir: Path, passwords: dict[str, str]):
        lines = [f"{name:<9} {passwords[name]:<22} {purpose}" for name, _, purpose in USERS]
        _write_private(demo_dir / "sign-ins.txt", "\n".join(lines) + "\n")

    # Accounts and keys ---------------------------------------------------------------------------------

    def _account(self, demo_dir: Path, simulator_url: str, label, venue, key_type, policies):
        account = ExchangeAccount.objects.filter(label=label).first()
        if account is None:
            api_key, secret, passphrase = _load_or_make_key(demo_dir / "keys", _slug(label), key_type, venue)
            account = ExchangeAccount.objects.create(
                label=label,
                venue=venue,
                environment=Environment.CUSTOM,
                custom_base_url=simulator_url,
                key_type=key_type,
                api_key=api_key,
                secret=secret,
                key_passphrase=passphrase,
            )
            return account, True, policies
        if account.environment == Environment.CUSTOM and account.custom_base_url != simulator_url:
            # The simulator may listen on another port this time (CG_SIM_PORT).
            account.custom_base_url = simulator_url
            account.save(update_fields=["custom_base_url", "updated_at"])
        return account, False, policies

    def _write_simulator_accounts(self, demo_dir: Path, simulator_url: str):
        """The keys the simulator registers at start (`simulator --accounts FILE`, entries shaped like its
        POST /_sim/accounts): every account pointed at this simulator, with the key the dashboard holds now,
        so a key rotated in the dashboard keeps working after a restart. An OKX or Kraken Futures key says
        its venue, as the control API wants it."""
        entries = []
        for account in ExchangeAccount.objects.filter(
            environment=Environment.CUSTOM, custom_base_url=simulator_url
        ):
            material = "secret" if account.key_type == KeyType.HMAC else "private_key"
            entry = {"label": account.label, "api_key": account.api_key, "key_type": account.key_type}
            entry[material] = account.secret
            if account.venue == Venue.OPTIONS:
                entry["options"] = True  # the key may use /eapi (Binance's options permission)
            if venues.venue(account.venue).family != "binance":
                entry["venue"] = account.venue
            if account.key_passphrase:
                entry["passphrase"] = account.key_passphrase
            entries.append(entry)
        _write_private(demo_dir / "simulator-accounts.json", json.dumps(entries, indent=2) + "\n")

    # Policies ------------------------------------------------------------------------------------------

    def _policies(self, accounts):
        operator = get_user_model().objects.get(username="operator")
        created = []
        for account, specs in accounts:
            for symbol, countdown_ms, interval_s in specs:
                policy, is_new = CountdownPolicy.objects.get_or_create(
                    account=account,
                    symbol=symbol,
                    defaults={"countdown_ms": countdown_ms, "interval_s": interval_s},
                )
                if is_new:
                    created.append(policy)
        # Armed once, when created, through the same path as the dashboard's Arm button (audited).
        for policy in created:
            actions.arm(policy.id, user=operator, ip=DEMO_IP)
        demo_policies = CountdownPolicy.objects.filter(account__in=[a for a, _ in accounts])
        armed = demo_policies.filter(armed=True).count()
        self.stdout.write(f"Policies: {demo_policies.count()} ({len(created)} new), {armed} armed.")

    # Strategy ----------------------------------------------------------------------------------------

    def _strategy(self, demo_dir: Path, dashboard_url: str):
        """The demo strategy, made once and holding one armed policy, with its ping URL in
        var/demo/strategy-ping-url for bin/strategy-ping (only the key's SHA-256 is stored, as for any ping
        URL). A later run keeps the strategy as people left it, and its key while that file still holds it;
        a new key is made when the file is gone (or holds another key)."""
        name, label, symbol, grace_s = STRATEGY
        path = demo_dir / "strategy-ping-url"
        key = _key_in(path) or pings.new_key()
        strategy, is_new = Strategy.objects.get_or_create(
            name=name,
            defaults={
                "owner": "the demo (bin/strategy-ping)",
                "grace_s": grace_s,
                "rearm_on_return": True,
                "ping_key_hash": pings.digest(key),
                "ping_key_hint": key[:6],
            },
        )
        keyadmin = get_user_model().objects.get(username="keyadmin")
        if is_new:
            # Audited like a strategy added on its page by a key admin.
            with transaction.atomic():
                CountdownPolicy.objects.filter(account__label=label, symbol=symbol).update(strategy=strategy)
                audit.record(
                    Action.STRATEGY_CREATE,
                    user=keyadmin,
                    ip=DEMO_IP,
                    reason=f"strategy {name}",
                    changes={"name": name, "grace_s": grace_s, "policies": [f"{label} {symbol}"]},
                )
        elif strategy.ping_key_hash != pings.digest(key):
            key = pings.new_key()
            with transaction.atomic():
                Strategy.objects.filter(pk=strategy.pk).update(
                    ping_key_hash=pings.digest(key), ping_key_hint=key[:6]
                )
                audit.record(Action.STRATEGY_KEY, user=keyadmin, ip=DEMO_IP, reason=f"strategy {name}")
        _write_private(path, f"{dashboard_url}{reverse('ping', args=[key])}\n")
        held = ", ".join(f"{p.account.label} {p.symbol}" for p in strategy.policies.with_account())
        self.stdout.write(
            f"Strategy: {name} holds {held or 'no policy'} ({'new' if is_new else 'kept'});"
            " bin/strategy-ping pings as it."
        )

    # Alerts ------------------------------------------------------------------------------------------

    def _alert_channel(self):
        """One channel that writes alerts to the demo's own output (`log://`): stop the worker or make the
        simulator refuse a key, and the alert shows up in the terminal, marked [web] or [worker]."""
        _channel, is_new = AlertChannel.objects.get_or_create(
            name="demo log", defaults={"url": "log://", "repeat_minutes": 5}
        )
        self.stdout.write(f"Alert channel: demo log, to this output ({'new' if is_new else 'kept'}).")

    # Orders on the running simulator -------------------------------------------------------------------

    def _place_orders(self, simulator_url: str):
        placed = 0
        policies = CountdownPolicy.objects.select_related("account").filter(
            armed=True, account__environment=Environment.CUSTOM, account__custom_base_url=simulator_url
        )
        for policy in policies:
            api_key = policy.account.api_key
            if policy.account.venue == Venue.OPTIONS:
                for symbol, price in OPTION_ORDERS.get(policy.symbol, []):
                    placed += _ensure_orders(simulator_url, api_key, symbol, [price])
            elif policy.account.venue in ACCOUNT_ORDERS:
                for symbol, count in ACCOUNT_ORDERS[policy.account.venue]:
                    prices = [_resting_price(symbol, step) for step in range(count)]
                    if policy.account.venue == Venue.OKX:
                        # An OKX switch of one order tag covers only the orders carrying it.
                        placed += _ensure_okx_orders(simulator_url, api_key, symbol, prices, policy.symbol)
                    else:
                        placed += _ensure_orders(simulator_url, api_key, symbol, prices)
            else:
                prices = [_resting_price(policy.symbol, step) for step in range(ORDERS_PER_POLICY)]
                placed += _ensure_orders(simulator_url, api_key, policy.symbol, prices)
        self.stdout.write(f"Orders: {placed} resting orders placed on the simulator.")


def _ensure_orders(simulator_url: str, api_key: str, symbol: str, prices: list[str]) -> int:
    """Tops the account's open orders on `symbol` up to one per price, bidding the first prices missing;
    returns how many were placed."""
    orders_url = f"{simulator_url}/_sim/orders"
    try:
        response = requests.get(orders_url, params={"api_key": api_key, "symbol": symbol}, timeout=5)
        response.raise_for_status()
        missing = max(0, len(prices) - len(response.json()))
        for price in prices[:missing]:
            order = {"api_key": api_key, "symbol": symbol, "side": "BUY", "quantity": "1", "price": price}
            requests.post(orders_url, json=order, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        raise CommandError(
            f"Could not place the demo orders on the simulator at {simulator_url}: {exc}"
        ) from None
    return missing


def _ensure_okx_orders(simulator_url: str, api_key: str, inst_id: str, prices: list[str], tag: str) -> int:
    """As _ensure_orders, for an OKX account's orders on `inst_id` carrying `tag` ("" for untagged)."""
    orders_url = f"{simulator_url}/_sim/orders"
    try:
        response = requests.get(orders_url, params={"venue": "okx", "api_key": api_key}, timeout=5)
        response.raise_for_status()
        resting = [o for o in response.json() if o["instId"] == inst_id and o.get("tag", "") == tag]
        missing = max(0, len(prices) - len(resting))
        for price in prices[:missing]:
            order = {
                "venue": "okx",
                "api_key": api_key,
                "instId": inst_id,
                "side": "buy",
                "sz": "1",
                "px": price,
            }
            if tag:
                order["tag"] = tag
            requests.post(orders_url, json=order, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        raise CommandError(
            f"Could not place the demo orders on the simulator at {simulator_url}: {exc}"
        ) from None
    return missing


def _resting_price(symbol: str, step: int) -> str:
    """A bid well below the market, so it rests until a countdown cancels it (in plain digits: 48000, never
    4.8E+4)."""
    reference = REFERENCE_PRICES.get(symbol, Decimal(100))
    return f"{(reference * (Decimal('0.8') - Decimal('0.05') * step)).normalize():f}"


# Helpers -------------------------------------------------------------------------------------------------


def _new_password() -> str:
    return secrets.token_urlsafe(12)


def _random_key(length=64) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _slug(label: str) -> str:
    return "-".join(label.lower().split())


def _load_or_make_key(keys_dir: Path, name: str, key_type: str, venue: str) -> tuple[str, str, str]:
    """(API key, secret, passphrase) for a demo account, made once and kept in var/demo/keys/: the HMAC secret
    (in base64 for Kraken Futures, as Kraken hands them out), or the PEM private key generated here for
    Ed25519 and RSA; the passphrase of a venue whose keys have one (OKX), "" otherwise."""
    api_key_path = keys_dir / f"{name}.api-key"
    secret_path = keys_dir / (f"{name}.secret" if key_type == KeyType.HMAC else f"{name}.pem")
    passphrase_path = keys_dir / f"{name}.passphrase" if venues.venue(venue).passphrase else None
    paths = [api_key_path, secret_path] + ([passphrase_path] if passphrase_path else [])
    if not all(path.exists() for path in paths):
        keys_dir.mkdir(parents=True, exist_ok=True)
        _write_private(secret_path, _new_secret(key_type, venue))
        _write_private(api_key_path, _random_key() + "\n")
        if passphrase_path:
            _write_private(passphrase_path, _random_key(32) + "\n")
    return (
        api_key_path.read_text().strip(),
        secret_path.read_text().strip() + ("\n" if key_type != KeyType.HMAC else ""),
        passphrase_path.read_text().strip() if passphrase_path else "",
    )


def _new_secret(key_type: str, venue: str) -> str:
    if venue == Venue.KRAKEN_FUTURES:
        return base64.b64encode(secrets.token_bytes(64)).decode() + "\n"
    if key_type == KeyType.HMAC:
        return _random_key() + "\n"
    if key_type == KeyType.ED25519:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _key_in(path: Path) -> str | None:
    """The ping key at the end of the URL kept in `path`, if there is a usable one."""
    try:
        key = path.read_text().strip().rstrip("/").rsplit("/", 1)[-1]
    except OSError:
        return None
    return key if pings.usable_key(key) else None


def _write_private(path: Path, text: str):
    """Write a file only its owner can read: these hold passwords and private keys."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)
