"""The control interface under /_sim/: JSON in, JSON out, mirroring the Exchange's Python methods.

Kept apart from the Binance paths: no weight, no faults, no signatures. It is meant for loopback use by tests
and the demo; whoever can reach it can change the exchange. Arguments come as a JSON body or query parameters.
Requests carrying an Origin header (sent by browsers) are refused, so no web page can drive it.

    GET    /_sim/state        everything below at once, plus server time, skew, latency, limits, weights
    GET    /_sim/requests     request log (?path=/fapi/v1/countdownCancelAll&since_id=N)
    GET    /_sim/accounts     registered keys (last 4 characters only)
    POST   /_sim/accounts     {"api_key", "key_type": "hmac"|"ed25519"|"rsa", "secret" | "public_key" |
                              "private_key", "passphrase"?, "trade"?: true, "options"?: true (may use /eapi),
                              "ip_whitelist"?: [ip, ...]}; or a Kraken Futures key: {"venue":
                              "kraken_futures", "api_key", "secret" (base64, as Kraken hands it out),
                              "trade"?: true}; or an OKX key: {"venue": "okx", "api_key", "secret",
                              "passphrase", "trade"?, "ip_whitelist"?} (served under /api/v5/, okx.py)
    GET    /_sim/orders       open orders (?api_key=...&symbol=...; ?venue=okx&api_key=...: OKX's)
    POST   /_sim/orders       {"api_key", "symbol", "side"?, "price"?, "quantity"?, "type"?} (no signing;
                              Kraken Futures symbols too: PF_XBTUSD, PF_ETHUSD...); OKX: {"venue": "okx",
                              "api_key", "instId", "side"?: "buy", "px"?, "sz"?, "ordType"?: "limit",
                              "clOrdId"?, "tag"?}
    GET    /_sim/algo_orders  open algo (conditional) orders (?api_key=...&symbol=...)
    POST   /_sim/algo_orders  {"api_key", "symbol", "side"?: "SELL", "type"?: "STOP_MARKET", "quantity"?,
                              "triggerPrice"?, "price"?, "clientAlgoId"?, "timeInForce"?, "reduceOnly"?,
                              "closePosition"?, "callbackRate"?, "activatePrice"?} (no signing; COIN-M
                              only with coinm_algo_service); OKX: {"venue": "okx", "api_key", "instId",
                              "side"?: "sell", "sz"?, "ordType"?: "conditional", "triggerPx"?, "tag"?}
    GET    /_sim/options      {"expiry_cancels_algo_orders", "coinm_algo_service", "options_check_interval"}
    POST   /_sim/options      {"expiry_cancels_algo_orders"?: false}: whether a countdown that runs out also
                              cancels the symbol's algo orders; {"coinm_algo_service"?: false}: whether COIN-M
                              conditional orders live in an Algo Service (/dapi/v1/algoOrder) rather than
                              among the plain orders; {"options_check_interval"?: 1.0}: seconds between two
                              checks of the options (/eapi) countdowns; {"kraken_nonce_tolerance"?: 1.0}:
                              seconds after Kraken Futures accepted a nonce that a lower one is still accepted
                              (shown in /_sim/state)
    GET    /_sim/faults       injected faults with their hit counts
    POST   /_sim/faults       {"path"?, "method"?, "symbol"?, "countdown_ms"?, "api_key"?, "kind"?,
                              "status"?, "code"?, "msg"?, "body"?, "latency_ms"?, "hold"?, "hold_timeout"?,
                              "apply"?, "drop"?, "retry_after"?, "count"?: 1 (null = every match)}
    DELETE /_sim/faults       remove every fault
    GET    /_sim/held         requests held right now
    POST   /_sim/release      {"name", "wait"?: 5} → {"released": n}, once they have been processed
    GET    /_sim/clock        {"server_time", "skew_ms"}
    POST   /_sim/clock        {"skew_ms"}
    POST   /_sim/latency      {"latency_ms", "jitter_ms"?}
    POST   /_sim/limits       {"weight_limit"?, "ban_after"?, "ban_seconds"?, "okx_window_scale"?: 1.0
                              (shortens every OKX rate-limit window, e.g. 0.01 for tests that renew fast)}
    POST   /_sim/reset        {"keep_accounts"?: false}
"""

import json
from urllib.parse import parse_qs

from . import bounds
from .endpoints import Reply
from .errors import BinanceError
from .exchange import Exchange
from .keys import KeyMaterialError

PREFIX = "/_sim/"

_FAULT_OPTIONS = (
    "path",
    "symbol",
    "countdown_ms",
    "api_key",
    "method",
    "status",
    "body",
    "code",
    "msg",
    "kind",
    "latency_ms",
    "count",
    "hold",
    "hold_timeout",
    "apply",
    "drop",
    "retry_after",
)


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ControlApi:
    def __init__(self, exchange: Exchange):
        self.exchange = exchange
        self._routes = {
            ("GET", "state"): self.state,
            ("GET", "requests"): self.requests,
            ("GET", "accounts"): self.list_accounts,
            ("POST", "accounts"): self.add_account,
            ("GET", "orders"): self.list_orders,
            ("POST", "orders"): self.place_order,
            ("GET", "algo_orders"): self.list_algo_orders,
            ("POST", "algo_orders"): self.place_algo_order,
            ("GET", "options"): self.options,
            ("POST", "options"): self.set_options,
            ("GET", "faults"): self.list_faults,
            ("POST", "faults"): self.add_fault,
            ("DELETE", "faults"): self.clear_faults,
            ("POST", "release"): self.release,
            ("GET", "held"): self.held,
            ("GET", "clock"): self.clock,
            ("POST", "clock"): self.set_clock,
            ("POST", "latency"): self.set_latency,
            ("POST", "limits"): self.set_limits,
            ("POST", "reset"): self.reset,
        }

    def handle(self, method: str, path: str, query: str, body: bytes) -> Reply:
        name = path[len(PREFIX) :].strip("/")
        handler = self._routes.get((method, name))
        if handler is None:
            known = any(n == name for _, n in self._routes)
            return Reply(405 if known else 404, {"error": f"no control endpoint {method} {path}"})
        try:
            args = {k: v[-1] for k, v in parse_qs(query, errors="replace").items()}
            if body:
                args.update(_json_object(body))
            status, result = handler(args)
        except ControlError as exc:
            return Reply(exc.status, {"error": str(exc)})
        except KeyMaterialError as exc:
            return Reply(400, {"error": str(exc)})
        except BinanceError as exc:
            return Reply(400, {"error": exc.msg, "code": exc.code})
        except KeyError as exc:
            return Reply(404, {"error": str(exc.args[0]) if exc.args else "not found"})
        except (TypeError, ValueError, OverflowError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(status, result)

    # Read --------------------------------------------------------------------------------------------------

    def state(self, args):
        return 200, self.exchange.state()

    def requests(self, args):
        since_id = bounds.integer(args.get("since_id", 0), "since_id", 0, 2**62)
        return 200, self.exchange.requests_log(_text(args, "path"), since_id)

    def list_accounts(self, args):
        return 200, self.exchange.accounts() + [a.describe() for a in self.exchange.okx.accounts()]

    def list_orders(self, args):
        if _is_okx(args):
            return 200, self.exchange.okx.open_orders(_required(args, "api_key"))
        return 200, self.exchange.open_orders(_required(args, "api_key"), _text(args, "symbol"))

    def list_algo_orders(self, args):
        if _is_okx(args):
            return 200, self.exchange.okx.open_algo_orders(_required(args, "api_key"))
        return 200, self.exchange.open_algo_orders(_required(args, "api_key"), _text(args, "symbol"))

    def options(self, args):
        return 200, {
            "expiry_cancels_algo_orders": self.exchange.expiry_cancels_algo_orders,
            "coinm_algo_service": self.exchange.coinm_algo_service,
            "options_check_interval": self.exchange.options.interval,
        }

    def list_faults(self, args):
        return 200, self.exchange.faults()

    def held(self, args):
        return 200, self.exchange.held()

    def clock(self, args):
        return 200, {"server_time": self.exchange.server_time_ms(), "skew_ms": self.exchange.skew_ms}

    # Change ------------------------------------------------------------------------------------------------

    def add_account(self, args):
        if args.get("venue") == "kraken_futures":
            self.exchange.add_kraken_account(
                _required(args, "api_key"), _required(args, "secret"), trade=_flag(args.get("trade", True))
            )
            return 201, self.exchange.account(args["api_key"]).describe()
        if _is_okx(args):
            account = self.exchange.okx.add_account(
                _required(args, "api_key"),
                _required(args, "secret"),
                _required(args, "passphrase"),
                trade=_flag(args.get("trade", True)),
                ip_whitelist=args.get("ip_whitelist"),
            )
            return 201, account.describe()
        key_type = _required(args, "key_type")
        material = args.get("public_key") or args.get("private_key") or args.get("secret")
        if not material:
            raise ControlError(400, "give 'secret' (HMAC), 'public_key' or 'private_key' (PEM)")
        self.exchange.add_account(
            _required(args, "api_key"),
            key_type,
            material,
            trade=_flag(args.get("trade", True)),
            options=_flag(args.get("options", True)),
            ip_whitelist=args.get("ip_whitelist"),
            passphrase=args.get("passphrase"),
        )
        return 201, self.exchange.account(args["api_key"]).describe()

    def place_order(self, args):
        if _is_okx(args):
            return 201, self.exchange.okx.place_order(
                _required(args, "api_key"),
                _required(args, "instId"),
                _text(args, "side") or "buy",
                args.get("px", "1000"),
                args.get("sz", "1"),
                ord_type=_text(args, "ordType") or "limit",
                cl_ord_id=_text(args, "clOrdId") or "",
                tag=_text(args, "tag") or "",
            )
        order = self.exchange.place_order(
            _required(args, "api_key"),
            _required(args, "symbol"),
            _text(args, "side") or "BUY",
            args.get("price", "1000"),
            args.get("quantity", "1"),
            order_type=_text(args, "type") or "LIMIT",
            time_in_force=_text(args, "timeInForce") or "GTC",
            client_order_id=_text(args, "newClientOrderId"),
        )
        return 201, order

    def place_algo_order(self, args):
        if _is_okx(args):
            return 201, self.exchange.okx.place_algo_order(
                _required(args, "api_key"),
                _required(args, "instId"),
                _text(args, "side") or "sell",
                args.get("sz", "1"),
                ord_type=_text(args, "ordType") or "conditional",
                trigger_px=args.get("triggerPx", "900"),
                algo_cl_ord_id=_text(args, "algoClOrdId") or "",
                tag=_text(args, "tag") or "",
            )
        order = self.exchange.place_algo_order(
            _required(args, "api_key"),
            _required(args, "symbol"),
            _text(args, "side") or "SELL",
            _text(args, "type") or "STOP_MARKET",
            args.get("quantity", "1"),
            args.get("triggerPrice", "1000"),
            args.get("price"),
            client_algo_id=_text(args, "clientAlgoId"),
            time_in_force=_text(args, "timeInForce") or "GTC",
            reduce_only=_flag(args.get("reduceOnly", False)),
            close_position=_flag(args.get("closePosition", False)),
            callback_rate=args.get("callbackRate"),
            activate_price=args.get("activatePrice"),
        )
        return 201, order

    def set_options(self, args):
        known = {
            "expiry_cancels_algo_orders",
            "coinm_algo_service",
            "options_check_interval",
            "kraken_nonce_tolerance",
        }
        unknown = set(args) - known
        if unknown:
            raise ControlError(400, f"unknown options: {', '.join(sorted(unknown))}")
        if "expiry_cancels_algo_orders" in args:
            self.exchange.set_expiry_cancels_algo_orders(_flag(args["expiry_cancels_algo_orders"]))
        if "coinm_algo_service" in args:
            self.exchange.set_coinm_algo_service(_flag(args["coinm_algo_service"]))
        if "options_check_interval" in args:
            self.exchange.set_options_check_interval(args["options_check_interval"])
        if "kraken_nonce_tolerance" in args:
            self.exchange.set_kraken_nonce_tolerance(args["kraken_nonce_tolerance"])
        return self.options(args)

    def add_fault(self, args):
        unknown = set(args) - set(_FAULT_OPTIONS)
        if unknown:
            raise ControlError(400, f"unknown fault options: {', '.join(sorted(unknown))}")
        options = {k: args[k] for k in _FAULT_OPTIONS if k in args}
        for flag in ("apply", "drop"):
            if flag in options:
                options[flag] = _flag(options[flag])
        fault_id = self.exchange.inject(**options)
        return 201, {"id": fault_id}

    def clear_faults(self, args):
        self.exchange.clear_faults()
        return 200, {"cleared": True}

    def release(self, args):
        released = self.exchange.release(_required(args, "name"), args.get("wait", 5.0))
        return 200, {"released": released}

    def set_clock(self, args):
        self.exchange.set_skew(_present(args, "skew_ms"))
        return self.clock(args)

    def set_latency(self, args):
        self.exchange.set_latency(args.get("latency_ms", 0), args.get("jitter_ms", 0))
        latency_ms, jitter_ms = self.exchange.latency
        return 200, {"latency_ms": latency_ms, "jitter_ms": jitter_ms}

    def set_limits(self, args):
        self.exchange.set_limits(args.get("weight_limit"), args.get("ban_after"), args.get("ban_seconds"))
        if args.get("okx_window_scale") is not None:
            scale = bounds.number(args["okx_window_scale"], "okx_window_scale", 0.001, 1000)
            self.exchange.okx.rates.scale = scale
        limiter = self.exchange.limiter
        return 200, {
            "weight_limit": limiter.limit,
            "ban_after": limiter.ban_after,
            "ban_seconds": limiter.ban_seconds,
            "okx_window_scale": self.exchange.okx.rates.scale,
        }

    def reset(self, args):
        self.exchange.reset(keep_accounts=_flag(args.get("keep_accounts", False)))
        return 200, {"reset": True}


def _json_object(body: bytes) -> dict:
    try:
        # NaN and Infinity are not JSON, and would reach sleeps and timers as numbers.
        data = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _not_json(constant: str):
    raise ValueError(f"{constant} is not valid JSON")


def _required(args: dict, name: str) -> str:
    value = args.get(name)
    if value is None or value == "":
        raise ControlError(400, f"'{name}' is required")
    return _text(args, name)


def _present(args: dict, name: str):
    value = args.get(name)
    if value is None or value == "":
        raise ControlError(400, f"'{name}' is required")
    return value


def _text(args: dict, name: str) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, str):
        raise ControlError(400, f"'{name}' must be a string")
    return value


def _is_okx(args: dict) -> bool:
    return args.get("venue") == "okx"


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
