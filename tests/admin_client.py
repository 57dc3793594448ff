"""A plain HTTP client of the management interface (no browser): a cookie
jar, the sign-in form and its CSRF token, and form posts. For tests that
check what the server answers rather than what a page looks like, and for
the benchmarks. Blocking: call it from a thread, never the reactor."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the caller sees each 303 and its Location


class AdminClient:
    def __init__(self, base_url: str, cookies: http.cookiejar.CookieJar | None = None):
        """``cookies``: another client's jar, to be the same browser on another node."""
        self.base_url = base_url
        self.cookies = cookies if cookies is not None else http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                   _KeepRedirects)

    def request(self, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        """(status, headers, body) of a GET, or of a POST of ``form``."""
        data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
        try:
            with self._opener.open(self.base_url + path, data=data, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read().decode("utf-8")
        except urllib.error.HTTPError as answer:
            return answer.code, dict(answer.headers), answer.read().decode("utf-8")

    def csrf_token(self, path: str) -> str:
        """The CSRF token of the form on ``path``."""
        status, _, body = self.request(path)
        found = _CSRF.search(body)
        assert found, "no form with a CSRF token on %s (%d)" % (path, status)
        return found.group(1)

    def sign_in(self, username: str, password: str) -> tuple[int, dict, str]:
        token = self.csrf_token("/admin/signin")
        return self.request("/admin/signin", {"username": username, "password": password, "csrf_token": token})

    def post(self, form_page: str, action: str, form: dict) -> tuple[int, dict, str]:
        """Post ``form`` to ``action`` with the CSRF token of the session (read on ``form_page``)."""
        return self.request(action, dict(form, csrf_token=self.csrf_token(form_page)))
