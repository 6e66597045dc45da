"""Binance's error replies: an HTTP status plus a JSON body {"code": -NNNN, "msg": "..."}."""

# Messages as Binance words them (futures error-code pages), used for injected faults given only a code.
MESSAGES = {
    -1000: "An unknown error occured while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too many requests; current limit is 2400 requests per minute. Please use the websocket for "
    "live updates to avoid polling the API.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    -1008: "Server is currently overloaded with other requests. Please try again in a few minutes.",
    -1016: "This service is no longer available.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1121: "Invalid symbol.",
    -1122: "Invalid symbol status.",
    -2014: "API-key format invalid.",
}

# What a status alone means when a fault names no code: Binance's 503 bodies differ in meaning
# ("Unknown error" = execution status unknown; "Service Unavailable." = not executed).
STATUS_BODIES = {
    500: {"code": -1000, "msg": MESSAGES[-1000]},
    502: {"code": -1001, "msg": MESSAGES[-1001]},
    503: {"code": -1006, "msg": "Unknown error, please check your request or try again later."},
    504: {"code": -1007, "msg": MESSAGES[-1007]},
    429: {"code": -1003, "msg": MESSAGES[-1003]},
}

LONG_RANGE = "^[0-9]{1,20}$"
DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
SYMBOL_RANGE = "^[A-Z0-9-_.]{1,20}$"


class BinanceError(Exception):
    """A rejection to send back exactly as Binance would: status, code, message and extra headers."""

    def __init__(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_chars(name: str, legal: str) -> BinanceError:
    return BinanceError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def duplicate_parameter() -> BinanceError:
    return BinanceError(400, -1101, "Duplicate values for a parameter detected.")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, MESSAGES[-1121])


def invalid_symbol_status() -> BinanceError:
    return BinanceError(400, -1122, MESSAGES[-1122])


def bad_signature() -> BinanceError:
    return BinanceError(400, -1022, MESSAGES[-1022])


def outside_recv_window() -> BinanceError:
    return BinanceError(400, -1021, MESSAGES[-1021])


def ahead_of_server() -> BinanceError:
    return BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def bad_recv_window() -> BinanceError:
    return BinanceError(400, -1131, "recvWindow must be less than 60000")


def key_format_invalid() -> BinanceError:
    return BinanceError(401, -2014, MESSAGES[-2014])


def rejected_key(ip: str) -> BinanceError:
    return BinanceError(401, -2015, f"Invalid API-key, IP, or permissions for action, request ip: {ip}")


def invalid_enum(code: int, what: str) -> BinanceError:
    return BinanceError(400, code, f"Invalid {what}.")


def order_does_not_exist() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.")


def unknown_order() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.")


def order_reference_missing() -> BinanceError:
    return BinanceError(
        400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
    )


def algo_reference_missing() -> BinanceError:
    # Assumption: worded like the plain order endpoints' -1102; Binance's algo pages do not quote it.
    return BinanceError(
        400, -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def duplicated_client_order_id() -> BinanceError:
    return BinanceError(400, -4116, "ClientOrderId is duplicated.")


def algo_order_type() -> BinanceError:
    return BinanceError(
        400,
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    )


def unreadable_body() -> BinanceError:
    """The request's body could not be read (bad length or chunking): nothing was processed."""
    return BinanceError(400, -1102, "A mandatory parameter was not sent, was empty/null, or malformed.")


def body_too_large() -> BinanceError:
    return BinanceError(413, -1000, "Request body too large.")


# Options (/eapi): codes and messages from Binance's options error-code page
# (developers.binance.com/docs/derivatives/option/error-code), where they differ from the futures ones.


def invalid_underlying() -> BinanceError:
    return BinanceError(400, -1128, "Invalid underlying")  # BAD_CONTRACT on options (no full stop)


def invalid_parameter(name: str) -> BinanceError:
    # INVALID_PARAMETER, worded (and spelled) as the options page words it.
    return BinanceError(400, -1130, f"Data sent for paramter '{name}' is not valid.")


def new_order_rejected() -> BinanceError:
    return BinanceError(400, -2010, "NEW_ORDER_REJECTED")


def option_order_reference_missing() -> BinanceError:
    return BinanceError(
        400, -1102, "Param 'orderId' or 'clientOrderId' must be sent, but both were empty/null!"
    )
