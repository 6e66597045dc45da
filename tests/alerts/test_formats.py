"""People's words in an alert (a reason, an account label) reach every channel as text it cannot misrender:
escaped for HTML (e-mail, Telegram), escaped for Markdown (Teams), escaped by Slack's rules, and plain for
plain channels (a JSON webhook, the log)."""

import json
from email import message_from_string
from unittest import mock

import pytest

from heartbeats.desk.alerts import delivery

LABEL = "<script>alert(1)</script> [desk](http://evil.example) *a*"
REASON = '"><img src=x onerror=alert(1)> <a href="http://evil.example">click</a> [click](http://evil.example)'
TITLE = f"Key check failed: {LABEL}"
BODY = f"Disarm all by olga.\nReason: {REASON}\n<http://evil.example|open me>"


class Sent:
    """What the channel's service would have received: HTTP requests and SMTP messages."""

    def __init__(self):
        self.requests: list[dict] = []
        self.mails: list[str] = []

    def http(self, *args, **kwargs):
        url = args[1] if len(args) > 1 else args[0] if args else kwargs.get("url")
        self.requests.append({"url": url, **kwargs})
        return _Answer()

    def payload(self) -> dict:
        (request,) = self.requests
        return json.loads(request["data"])


class _Answer:
    status_code = 200
    ok = True
    content = b"ok"
    text = "ok"
    headers: dict = {}

    def json(self):
        return {"ok": True, "result": {}}


@pytest.fixture
def sent(monkeypatch):
    record = Sent()

    class SMTP:
        def __init__(self, *args, **kwargs):
            pass

        def sendmail(self, sender, to, message):
            record.mails.append(message)

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    monkeypatch.setattr("requests.post", lambda *a, **k: record.http("POST", *a, **k))
    monkeypatch.setattr("requests.request", record.http)
    monkeypatch.setattr("smtplib.SMTP", SMTP)
    monkeypatch.setattr("smtplib.SMTP_SSL", SMTP)
    return record


def _no_html(text: str):
    for raw in ("<script", "<img", "<a href", "<http"):
        assert raw not in text, (raw, text)


def test_an_email_is_plain_text_or_escaped_html(sent):
    assert delivery.send("mailto://user:pass@example.com?to=risk@example.com", TITLE, BODY) == (True, "")
    assert delivery.send("mailto://user:pass@example.com?to=risk@example.com&format=html", TITLE, BODY)[0]
    plain, html = (message_from_string(m) for m in sent.mails)
    for message in (plain, html):
        assert message["Subject"] == TITLE  # a header: plain text, shown as written
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode() for p in html.walk() if not p.is_multipart()
    }
    assert "text/html" in parts
    _no_html(parts["text/html"])
    assert "&lt;img&nbsp;src=x&nbsp;onerror=alert(1)&gt;" in parts["text/html"]
    assert [p.get_content_type() for p in plain.walk()] == ["text/plain"]
    assert REASON in plain.get_payload(decode=True).decode()


def test_telegram_gets_escaped_html(sent):
    assert delivery.send("tgram://123456789:abcdefg_hijklmnop/12345", TITLE, BODY)[0]
    text = sent.payload()["text"]
    assert sent.payload()["parse_mode"] == "HTML"
    _no_html(text)
    assert "&lt;script&gt;" in text and "&lt;img" in text


def test_slack_gets_text_it_shows_as_written(sent):
    url = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#risk"
    assert delivery.send(url, TITLE, BODY)[0]
    payload = sent.payload()
    (attachment,) = payload["attachments"]
    assert payload["mrkdwn"] is False
    for text in (attachment["title"], attachment["text"]):
        assert "<" not in text and ">" not in text.replace("&gt;", "")
    assert "&lt;http://evil.example|open me&gt;" in attachment["text"]


def test_teams_gets_markdown_with_every_mark_escaped(sent):
    url = "workflows://prod-00.westus.logic.azure.com/abcdef0123456789abcdef0123456789/SIGsignature123"
    assert delivery.send(url, TITLE, BODY)[0]
    blocks = {
        b.get("id"): b["text"] for b in sent.payload()["attachments"][0]["content"]["body"] if "id" in b
    }
    for text in blocks.values():
        # CommonMark: every mark escaped, so no link, emphasis or HTML tag is left to render.
        for raw in ("<script>", "<img src=x onerror=alert(1)>", "[click](", "[desk](", "*a*"):
            assert raw not in text, (raw, text)
    assert r"\[desk\]\(http://evil\.example\)" in blocks["title"]
    assert r"\[click\]\(http://evil\.example\)" in blocks["body"]


def test_a_plain_webhook_gets_the_words_as_they_are(sent):
    assert delivery.send("json://hooks.example.com/alerts", TITLE, BODY)[0]
    payload = sent.payload()
    assert payload["title"] == TITLE and payload["message"] == BODY


def test_the_log_channel_writes_plain_text(caplog):
    caplog.set_level("WARNING", logger="countdown_guard.alerts")
    with mock.patch.object(delivery, "SEND_TIMEOUT_S", 5):
        assert delivery.send("log://", TITLE, BODY)[0]
    assert LABEL in caplog.text and REASON in caplog.text
