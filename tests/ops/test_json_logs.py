"""CG_LOG_FORMAT=json: one JSON object per line, redacted like the plain lines."""

import json
from datetime import UTC, datetime

from tests.ops.conftest import clean_env, manage

SIGNATURE = "E4nWIl3yUJgJFL6LoWImsrEwNegMiN9SN1FWKw"
API_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
LOGS = f"""
import logging
log = logging.getLogger("heartbeats.jsontest")
log.warning("sent /fapi/v1/countdownCancelAll?timestamp=1&signature=%s", "{SIGNATURE}")
try:
    raise RuntimeError("refused with X-MBX-APIKEY: {API_KEY}")
except RuntimeError:
    log.exception("request failed")
"""


def test_every_line_is_a_redacted_json_object(tmp_path):
    env = clean_env(CG_DEV="1", CG_VAR_DIR=str(tmp_path), CG_LOG_FORMAT="json")
    result = manage("shell", "-c", LOGS, env=env)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    mine = [e for e in entries if e["logger"] == "heartbeats.jsontest"]
    assert [e["level"] for e in mine] == ["WARNING", "ERROR"]
    warning, error = mine
    assert datetime.fromisoformat(warning["time"]).utcoffset() == UTC.utcoffset(None)
    assert warning["message"].endswith("signature=<redacted>")
    assert {"process", "pid", "thread"} <= set(warning)
    assert "Traceback" in error["exc_info"] and "X-MBX-APIKEY: <redacted>" in error["exc_info"]
    assert SIGNATURE not in result.stderr and API_KEY not in result.stderr


def test_an_unknown_format_stops_with_one_line(tmp_path):
    env = clean_env(CG_DEV="1", CG_VAR_DIR=str(tmp_path), CG_LOG_FORMAT="xml")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "CG_LOG_FORMAT must be plain or json" in result.stderr
    assert "Traceback" not in result.stderr
