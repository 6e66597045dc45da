"""The production web stack as deployed: gunicorn with deploy/gunicorn.conf.py, whitenoise serving collected
static files, https-only cookies and security headers behind a TLS-terminating proxy."""

import subprocess
import sys

import requests

from tests.ops.conftest import ROOT, free_port, manage
from tests.waiting import wait_for


def _start_gunicorn(env):
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process


def _wait_until_up(process, url, timeout=30):
    def answer():
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stdout.read()}")
        try:
            # Listening comes before the worker has loaded the application, which a busy machine takes a
            # while to do: the first answer may be slow. In a tuple: a response is false when its status is
            # an error, and any answer will do here.
            headers = {"Host": "guard.example.com"}
            return (requests.get(url, headers=headers, timeout=(2, timeout), allow_redirects=False),)
        except requests.ConnectionError:
            return None  # not listening yet

    return wait_for(answer, timeout=timeout, every=0.1, message=f"gunicorn to answer at {url}")[0]


def _prepare(env):
    for step in (
        ["migrate", "--noinput", "-v", "0"],
        ["createcachetable"],
        ["collectstatic", "--noinput", "-v", "0"],
    ):
        result = manage(*step, env=env, timeout=120)
        assert result.returncode == 0, result.stderr


def test_it_serves_the_dashboard_securely_behind_a_proxy(production_env, tmp_path):
    port = free_port()
    env = production_env | {
        "CG_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CG_BEHIND_PROXY": "1",
        # This test's requests play the proxy, from loopback.
        "CG_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "CG_BIND": f"127.0.0.1:{port}",
        "CG_WEB_WORKERS": "1",
    }
    _prepare(env)
    base = f"http://127.0.0.1:{port}"
    process = _start_gunicorn(env)
    try:
        # Plain http is sent to https, whatever the page.
        plain = _wait_until_up(process, f"{base}/admin/login/")
        assert plain.status_code == 301
        assert plain.headers["Location"] == "https://guard.example.com/admin/login/"

        proxied = {"Host": "guard.example.com", "X-Forwarded-Proto": "https"}
        page = requests.get(f"{base}/admin/login/", headers=proxied, timeout=5)
        assert page.status_code == 200
        assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        csrf_cookie = page.cookies.get_dict()
        assert "__Host-csrftoken" in csrf_cookie
        assert all(cookie.secure for cookie in page.cookies)

        # Collected, fingerprinted static files come from whitenoise with a long cache lifetime.
        static_path = next(
            line.split('href="')[1].split('"')[0]
            for line in page.text.splitlines()
            if 'rel="stylesheet"' in line and "/static/" in line
        )
        assert static_path.count(".") >= 2, "expected a hashed file name from the manifest storage"
        static = requests.get(f"{base}{static_path}", headers=proxied, timeout=5)
        assert static.status_code == 200
        assert "max-age=315360000" in static.headers["Cache-Control"]

        # Hosts not in CG_ALLOWED_HOSTS are refused.
        other = requests.get(f"{base}/admin/login/", headers={**proxied, "Host": "evil.example"}, timeout=5)
        assert other.status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_it_believes_forwarded_headers_from_the_named_proxy_only(production_env, tmp_path):
    """The proxy is elsewhere (192.0.2.80): a process on this host talking to gunicorn directly cannot say
    the request came over https, nor pass for another client address."""
    port = free_port()
    env = production_env | {
        "CG_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CG_BEHIND_PROXY": "1",
        "CG_FORWARDED_ALLOW_IPS": "192.0.2.80",
        "CG_BIND": f"127.0.0.1:{port}",
        "CG_WEB_WORKERS": "1",
    }
    _prepare(env)
    base = f"http://127.0.0.1:{port}"
    process = _start_gunicorn(env)
    try:
        _wait_until_up(process, f"{base}/login/")
        spoofed = {
            "Host": "guard.example.com",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.9",
        }
        response = requests.get(f"{base}/login/", headers=spoofed, timeout=5, allow_redirects=False)
        assert response.status_code == 301
        assert response.headers["Location"] == "https://guard.example.com/login/"
    finally:
        process.terminate()
        process.wait(timeout=15)
