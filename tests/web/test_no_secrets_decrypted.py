"""The pages never need an API key or secret, so they never decrypt one: key material stays where a request
is signed (the worker, the web's fallback disarms, a key check)."""

import pytest
from django.urls import reverse

from heartbeats import crypto
from tests.web.conftest import make_engine


@pytest.fixture
def decryptions(monkeypatch):
    calls = []
    real = crypto.decrypt

    def counting(token):
        calls.append(1)
        return real(token)

    monkeypatch.setattr(crypto, "decrypt", counting)
    return calls


@pytest.mark.parametrize(
    "page",
    [
        lambda desk: reverse("board"),
        lambda desk: reverse("board") + f"?account={desk['accounts'][0].pk}",
        lambda desk: reverse("status_json"),
        lambda desk: reverse("policy", args=[desk["armed"].pk]),
        lambda desk: reverse("disarm_all"),
    ],
    ids=["board", "board-filtered", "status-json", "policy", "disarm-all"],
)
def test_a_page_decrypts_no_secret(as_operator, desk, decryptions, page):
    make_engine()
    response = as_operator.get(page(desk))
    assert response.status_code == 200
    assert decryptions == []
