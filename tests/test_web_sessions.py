"""Sessions of the management interface live in the database: every node
behind a load balancer knows them, and the database holds no token that
would sign anybody in."""
from __future__ import annotations

from sqlalchemy import select
from twisted.internet import threads

from admin_client import AdminClient
from stws.db.models import WebSession


async def test_two_nodes_share_one_session(make_config, start_server, tmp_path):
    first = await start_server.started(make_config())
    second = await start_server.started(make_config(data_dir=tmp_path / "second"))

    def sign_in_on_one_and_use_the_other():
        # Cookies do not depend on the port: one browser, two nodes.
        client = AdminClient(first.base_url)
        status, _, _ = client.sign_in(*first.admin)
        assert status == 303
        on_second = AdminClient(second.base_url, client.cookies)
        status, _, page = on_second.request("/admin/settings/diagnostics")
        signed_out, _, _ = on_second.post("/admin/", "/admin/signout", {})
        after, headers, _ = client.request("/admin/")
        return status, page, signed_out, after, headers.get("Location", "")

    status, page, signed_out, after, location = await threads.deferToThread(sign_in_on_one_and_use_the_other)
    assert status == 200 and "Current Thread Status" in page
    assert signed_out == 303
    assert after == 303 and "/admin/signin" in location  # signed out on one node: on both


async def test_the_database_holds_only_a_hash_of_the_token(server):
    def sign_in():
        client = AdminClient(server.base_url)
        client.sign_in(*server.admin)
        return next(cookie.value for cookie in client.cookies if cookie.name == "stws_session")

    token = await threads.deferToThread(sign_in)
    with server.runtime.db.transaction(writes=False) as session:
        stored = session.scalars(select(WebSession.token_hash)).all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


def test_cookie_header_is_read_as_browsers_send_it():
    """stws.web.http.parse_cookies (it replaced SimpleCookie on every
    request): pairs split on ";", quotes around a value dropped, parts
    without a name or "=" skipped instead of losing the session cookie."""
    from stws.web.http import parse_cookies

    assert parse_cookies("stws_session=abc-_1; theme=\"dark\"") == {"stws_session": "abc-_1", "theme": "dark"}
    assert parse_cookies("odd; =x; tracker={\"a\": [1, 2]}; stws_session=t0k3n") == {
        "tracker": "{\"a\": [1, 2]}", "stws_session": "t0k3n"}
    assert parse_cookies("a=1; a=2")["a"] == "2"
    assert parse_cookies("token=a=b==") == {"token": "a=b=="}
