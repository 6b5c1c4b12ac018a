"""The self-service portal from the test side (Python 3 standard library only):

- totp(): RFC 6238 codes (HMAC-SHA1, 6 digits, 30 s) from an `otpauth://totp/...` URI;
- add_user(): `rdpgate user add --password-stdin`, returning the URI it printed;
- PortalClient: HTTPS to the portal without a browser (a self-signed certificate, its own cookie
  jar), reading the CSRF token from the pages as a browser would submit it;
- TLS material for the portal and an HS256 token key for its signed .rdp files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html.parser
import http.cookiejar
import os
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request


def otp_secret(uri: str) -> bytes:
    query = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)
    text = query["secret"][0]
    return base64.b32decode(text + "=" * (-len(text) % 8))


def totp(uri: str, at: float | None = None) -> str:
    """The 6-digit code of the otpauth URI's secret at time `at` (default: now)."""
    counter = int((time.time() if at is None else at) // 30)
    mac = hmac.new(otp_secret(uri), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def add_user(binary: str, users_file: str, name: str, routes: str, password: str) -> str:
    """Adds a portal user with the CLI; returns the otpauth:// URI it printed."""
    result = subprocess.run([binary, "user", "add", "--users-file", users_file, name,
                             "--routes", routes, "--password-stdin"],
                            input=password + "\n", capture_output=True, text=True, timeout=30,
                            check=True)
    return result.stdout.strip()


def write_secret(path: str, data: bytes) -> str:
    """A file only its owner may read, as rdpgate requires of secrets."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


class _Csrf(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.value: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") == "csrf" and self.value is None:
            self.value = a.get("value")


def csrf_of(page: str) -> str | None:
    parser = _Csrf()
    parser.feed(page)
    return parser.value


class PortalClient:
    """One browser-like client of the portal: cookies kept, redirects not followed."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, host: str, port: int, forwarded_for: str | None = None) -> None:
        self.base = f"https://{host}:{port}"
        self.forwarded_for = forwarded_for
        self.cookies = http.cookiejar.CookieJar()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the tests' self-signed certificate
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(self.cookies), self._NoRedirect())

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if self.forwarded_for:
            req.add_header("X-Forwarded-For", self.forwarded_for)
        try:
            with self.opener.open(req, timeout=15) as resp:
                return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8", "replace")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def sign_in(self, user: str, password: str, code: str, with_csrf: bool = True
                ) -> tuple[int, str]:
        """GET / then POST /signin as the form would; (status, body)."""
        status, _, page = self.request("GET", "/")
        assert status == 200, (status, page)
        form = {"username": user, "password": password, "otp": code}
        if with_csrf:
            form["csrf"] = csrf_of(page) or ""
        status, _, body = self.request("POST", "/signin", form)
        return status, body
