"""Keys, signatures and timestamps are checked as Binance checks them."""

import json
import time

import pytest

from simulator.keys import Verifier

from .conftest import DATA, KEYS, Trader, another_key, public_pem, sign


@pytest.mark.parametrize("key_type", ["hmac", "ed25519", "rsa"])
@pytest.mark.parametrize("where", ["query", "body", "split"])
def test_it_accepts_every_key_type_with_parameters_anywhere(simulator, key_type, where):
    trader = Trader(simulator, key_type).register()

    response = trader.countdown("BTCUSDT", 60000, where=where, recv_window=5000)

    assert response.status_code == 200, response.text
    assert simulator.exchange.countdowns()[0]["countdown_ms"] == 60000


@pytest.mark.parametrize("key_type", ["hmac", "ed25519", "rsa"])
def test_it_rejects_a_signature_made_with_another_key(simulator, key_type):
    trader = Trader(simulator, key_type).register()
    ts = int(time.time() * 1000)
    forged = sign(key_type, another_key(key_type), f"symbol=BTCUSDT&countdownTime=1000&timestamp={ts}")

    response = trader.countdown("BTCUSDT", 1000, timestamp=ts, signature=forged)

    assert response.status_code == 400
    assert response.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
    assert simulator.exchange.countdowns() == []


def test_it_signs_query_plus_body_with_no_ampersand_between(simulator, trader):
    ts = int(time.time() * 1000)
    query, body = "symbol=BTCUSDT&countdownTime=1000", f"timestamp={ts}"
    headers = {"X-MBX-APIKEY": trader.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    url = f"{simulator.url}/fapi/v1/countdownCancelAll?{query}"

    joined_with_amp = sign("hmac", trader.key, f"{query}&{body}")
    wrong = trader.session.post(url, data=f"{body}&signature={joined_with_amp}", headers=headers)
    right = trader.session.post(
        url, data=f"{body}&signature={sign('hmac', trader.key, query + body)}", headers=headers
    )

    assert wrong.json()["code"] == -1022
    assert right.status_code == 200


def test_it_needs_the_base64_signature_url_encoded(simulator):
    trader = Trader(simulator, "ed25519").register()
    now = int(time.time() * 1000)
    for ts in range(
        now, now + 20
    ):  # find a signature with a '+', which a raw query string turns into a space
        payload = f"symbol=BTCUSDT&countdownTime=1000&timestamp={ts}"
        signature = sign("ed25519", trader.key, payload)
        if "+" in signature:
            break
    else:
        pytest.fail("no signature with a '+' found")
    url = f"{simulator.url}/fapi/v1/countdownCancelAll?{payload}&signature="
    headers = {"X-MBX-APIKEY": trader.api_key}

    assert trader.session.post(url + signature, headers=headers).json()["code"] == -1022
    assert trader.session.post(url + signature.replace("+", "%2B").replace("/", "%2F"), headers=headers).ok


def test_it_verifies_binances_published_signing_vectors():
    vectors = json.loads((DATA / "signing-vectors.json").read_text())
    for v in vectors["hmac_sha256_hex"]:
        verifier = Verifier("hmac", v["secret"])
        assert verifier.verify(v["payload"].encode(), v["signature"])
        assert not verifier.verify((v["payload"] + "1").encode(), v["signature"])
        assert not verifier.verify(v["payload"].encode(), "é" + v["signature"][1:])
    [rsa] = vectors["rsa_pkcs1v15_sha256_base64"]
    for verifier in (
        Verifier("rsa", public_pem(KEYS["rsa"])),
        Verifier("rsa", (DATA / "rsa-encrypted-test-key.pem").read_text(), passphrase="password"),
    ):
        assert verifier.verify(rsa["payload"].encode(), rsa["signature"])
        assert not verifier.verify(rsa["payload"].encode(), rsa["signature"].replace("u", "v", 1))
    [ed] = vectors["ed25519_base64"]
    assert Verifier("ed25519", KEYS["ed25519"]).verify(ed["payload"].encode(), ed["signature"])
    assert not Verifier("ed25519", KEYS["ed25519"]).verify(ed["payload"].encode(), "not base64!")


def test_it_rejects_unknown_and_missing_api_keys(simulator, trader):
    stranger = Trader(simulator)  # never registered

    unknown = stranger.countdown("BTCUSDT", 1000)
    trader.session.headers["X-MBX-APIKEY"] = ""
    missing = trader.session.post(f"{simulator.url}/fapi/v1/countdownCancelAll?symbol=BTCUSDT", timeout=5)

    assert unknown.status_code == 401
    assert unknown.json() == {
        "code": -2015,
        "msg": "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1",
    }
    assert missing.status_code == 401 and missing.json()["code"] == -2014


def test_it_refuses_trade_endpoints_to_read_only_keys_and_other_ips(simulator):
    read_only = Trader(simulator).register(trade=False)
    pinned = Trader(simulator).register(ip_whitelist=["10.9.8.7"])

    refused = read_only.countdown("BTCUSDT", 1000)
    reading = read_only.signed("GET", "openOrders", {"symbol": "BTCUSDT"})
    elsewhere = pinned.countdown("BTCUSDT", 1000)

    assert refused.status_code == 401 and refused.json()["code"] == -2015
    assert reading.status_code == 200 and reading.json() == []
    assert elsewhere.status_code == 401 and elsewhere.json()["code"] == -2015
    assert simulator.exchange.countdowns() == []


def test_it_rejects_timestamps_outside_the_window(simulator, trader):
    now = int(time.time() * 1000)

    behind = trader.countdown("BTCUSDT", 1000, timestamp=now - 6000)
    behind_but_allowed = trader.countdown("BTCUSDT", 1000, timestamp=now - 6000, recv_window=10000)
    ahead = trader.countdown("BTCUSDT", 1000, timestamp=now + 1500, recv_window=60000)
    slightly_ahead = trader.countdown("BTCUSDT", 1000, timestamp=now + 500)

    assert behind.status_code == 400
    assert behind.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    assert behind_but_allowed.status_code == 200
    assert ahead.status_code == 400 and ahead.json()["code"] == -1021  # whatever the recvWindow
    assert slightly_ahead.status_code == 200


def test_it_rejects_a_missing_timestamp_or_a_recv_window_above_60s(simulator, trader):
    too_wide = trader.countdown("BTCUSDT", 1000, recv_window=60001)
    url = f"{simulator.url}/fapi/v1/countdownCancelAll"
    query = "symbol=BTCUSDT&countdownTime=1000"
    no_timestamp = trader.session.post(
        f"{url}?{query}&signature={sign('hmac', trader.key, query)}", headers={"X-MBX-APIKEY": trader.api_key}
    )
    unsigned = trader.session.post(
        f"{url}?{query}&timestamp={int(time.time() * 1000)}", headers={"X-MBX-APIKEY": trader.api_key}
    )

    assert too_wide.status_code == 400 and too_wide.json()["code"] == -1131
    assert no_timestamp.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    }
    assert unsigned.json()["code"] == -1102 and "'signature'" in unsigned.json()["msg"]


def test_it_checks_timestamps_against_the_skewed_server_clock(simulator, trader):
    simulator.exchange.set_skew(-3000)  # the exchange's clock is 3 s behind ours

    server_time = trader.public("time").json()["serverTime"]
    naive = trader.countdown("BTCUSDT", 1000)
    corrected = trader.countdown("BTCUSDT", 1000, timestamp=server_time)

    assert abs(server_time - (time.time() * 1000 - 3000)) < 200
    assert naive.json() == {
        "code": -1021,
        "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
    }
    assert corrected.status_code == 200
