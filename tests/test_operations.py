"""The operation layer (stws.operations): one declaration, run for every
front door alike. SOAP and the management interface reach the very same
operation with the same role rules and outcome; an operation body runs with
a context built directly; authentication happens before the transaction
opens, so a slow credential check holds up nobody's writes."""
from __future__ import annotations

import threading

import pytest
from twisted.internet import threads

from admin_client import AdminClient
from conftest import strings
from stws.db.models import ThreadState
from stws.domain.context import Context
from stws.errors import PermissionDenied, ResultCode
from stws.operations import diagnostics, runner
from stws.security import auth, roles
from stws.security.principals import Principal, system_principal
from stws.services.diagnostics import DiagnosticsService

AGENT_PASSWORD = "agent-Passw0rd!"


async def new_agent(server, name: str) -> int:
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, name, AGENT_PASSWORD, "%s@example.com" % name, True, name)
    assert created.Result, created.Message
    assert (await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent"))).Result
    return created.RequestResult


def test_the_soap_operation_and_the_page_run_one_declaration():
    binding = DiagnosticsService.public_methods["StopThread"].function.stws_spec
    assert binding.operation is diagnostics.stop_thread
    assert binding.name == "StopThread" and binding.writes and not binding.slow


async def test_soap_and_the_browser_front_door_give_the_same_refusal_and_the_same_outcome(server):
    await new_agent(server, "frontdoors")
    diag = await server.client("svcDiagnostics")
    soap = await diag.StopThread("frontdoors", AGENT_PASSWORD, "Indexing")
    assert soap.ResultCode == int(ResultCode.PERMISSION_DENIED)

    def agent_posts_the_stop_form():
        client = AdminClient(server.base_url)
        status, _, _ = client.sign_in("frontdoors", AGENT_PASSWORD)
        assert status == 303
        status, headers, _ = client.post("/admin/", "/admin/settings/diagnostics/threads",
                                         {"name": "Indexing", "action": "stop"})
        assert status == 303
        return client.request(headers["Location"])

    status, _, body = await threads.deferToThread(agent_posts_the_stop_form)
    assert status == 403 and soap.Message in body.replace("&#39;", "'")

    def admin_posts_it():
        client = AdminClient(server.base_url)
        client.sign_in(*server.admin)
        return client.post("/admin/", "/admin/settings/diagnostics/threads", {"name": "Indexing", "action": "stop"})

    status, headers, _ = await threads.deferToThread(admin_posts_it)
    assert status == 303
    statuses = (await diag.GetThreadStatuses(*server.admin)).Threads.ThreadStatusInfo
    assert next(t for t in statuses if t.Name == "Indexing").IsEnabled is False
    # And the other way round: what SOAP starts, the page shows.
    assert (await diag.StartThread(*server.admin, "Indexing")).Result

    def admin_reads_the_page():
        client = AdminClient(server.base_url)
        client.sign_in(*server.admin)
        return client.request("/admin/settings/diagnostics?tab=threads")[2]

    page = await threads.deferToThread(admin_reads_the_page)
    assert 'aria-label="Stop Indexing"' in page


def test_an_operation_body_runs_with_a_context_built_directly(tmp_path, database_url, monkeypatch):
    from stws.config import Config
    from stws.runtime import start_runtime

    monkeypatch.setenv("STWS_ADMIN_PASSWORD", "admin-Passw0rd!")
    runtime = start_runtime(Config(data_dir=tmp_path / "data", database=database_url))
    try:
        with runtime.db.transaction() as session:
            context = Context.in_session(session, system_principal(session), runtime)
            assert diagnostics.stop_thread(context, "cleaner") == "Cleaner is stopped."
            with pytest.raises(PermissionDenied):
                diagnostics.stop_thread(Context.in_session(session, Principal(99, "x", frozenset({roles.AGENT}))),
                                        "Cleaner")
        with runtime.db.transaction() as session:
            assert session.get(ThreadState, "Cleaner").enabled is False
        # The runner: the same body, in its own transaction, for a principal.
        admin = runner.authenticate(runtime, runner.PasswordCredentials("admin", "admin-Passw0rd!"))
        statuses = runner.run(runtime, diagnostics.thread_statuses, admin)
        assert next(s for s in statuses if s.name == "Cleaner").status == "stopped"
    finally:
        runtime.close()


async def test_a_slow_credential_check_holds_up_no_write(server, monkeypatch):
    """A password is verified before the call's transaction opens: while one
    caller's check is stuck, other callers' writes commit (on SQLite they go
    through the one commit-group thread, which must not be the one waiting)."""
    await new_agent(server, "slowpoke")
    entered, release = threading.Event(), threading.Event()
    real_verify = auth.verify_password

    def slow_verify(password, stored):
        if password == AGENT_PASSWORD:
            entered.set()
            release.wait(30)
        return real_verify(password, stored)

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    diag = await server.client("svcDiagnostics")
    # A quick write of an agent: refused, but only after the check.
    slow_call = diag.StopThread("slowpoke", AGENT_PASSWORD, "Indexing")
    assert await threads.deferToThread(entered.wait, 10)
    try:
        write = await diag.StopThread(*server.admin, "Cleaner")
        assert write.Result, write.Message
        assert not release.is_set() and not slow_call.called  # done while the check was stuck
    finally:
        release.set()
    assert (await slow_call).ResultCode == int(ResultCode.PERMISSION_DENIED)
