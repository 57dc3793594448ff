"""Shared fixtures: a fresh database per test (SQLite or PostgreSQL), a live
server on 127.0.0.1:0 in the test reactor, and zeep clients that call it.

pytest-twisted runs test bodies in the reactor, so a test must never block:
tests that talk to the server are ``async def`` (wrapped automatically
below) and ``await`` the client calls, which run in a thread
(``deferToThread``) while the reactor serves the very requests they make.

``--db=postgresql`` (or ``STWS_TEST_DB=postgresql``) runs everything against
the PostgreSQL server at ``STWS_TEST_POSTGRES_URL`` (an admin URL; each test
gets a database cloned from a migrated template).
"""
from __future__ import annotations

import inspect
import itertools
import os
import shutil
import uuid
from pathlib import Path

import pytest
import pytest_twisted
from sqlalchemy import create_engine, text
from twisted.internet import reactor, threads

from stws.config import Config
from stws.db import fulltext_store, schema
from stws.runtime import start_runtime
from stws.server import WebService

ADMIN_PASSWORD = "admin-Passw0rd!"


def pytest_collection_modifyitems(items):
    for item in items:
        function = getattr(item, "obj", None)
        if inspect.iscoroutinefunction(function):
            item.obj = pytest_twisted.ensureDeferred(function)


def pytest_addoption(parser):
    parser.addoption("--db", default=os.environ.get("STWS_TEST_DB", "sqlite"),
                     choices=("sqlite", "postgresql"), help="database backend for the tests")


# ---------------------------------------------------------------- databases


class SqliteDatabases:
    """A migrated template file, copied for each test."""

    def __init__(self, root: Path):
        self.root = root
        self.template = root / "template.sqlite3"
        engine = create_engine("sqlite:///%s" % self.template)
        schema.upgrade(engine)
        engine.dispose()
        self._names = itertools.count()

    def new_url(self) -> str:
        path = self.root / ("db%d.sqlite3" % next(self._names))
        shutil.copyfile(self.template, path)
        index = fulltext_store.index_path(str(self.template))
        shutil.copyfile(index, fulltext_store.index_path(str(path)))
        return "sqlite:///%s" % path

    def close(self):
        pass


class PostgresDatabases:
    """A migrated template database; each test gets ``CREATE DATABASE ... TEMPLATE``."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.prefix = "stws_test_%s" % uuid.uuid4().hex[:8]
        self.template = self.prefix + "_template"
        self.created = []
        with self.admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "%s"' % self.template))
        engine = create_engine(self._url(self.template))
        schema.upgrade(engine)
        engine.dispose()
        self._names = itertools.count()

    def _url(self, name: str) -> str:
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def new_url(self) -> str:
        name = "%s_%d" % (self.prefix, next(self._names))
        with self.admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "%s" TEMPLATE "%s"' % (name, self.template)))
        self.created.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = create_engine(url).url.database
        with self.admin.connect() as connection:
            connection.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))

    def close(self):
        with self.admin.connect() as connection:
            for name in self.created + [self.template]:
                connection.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        self.admin.dispose()


@pytest.fixture(scope="session")
def databases(request, tmp_path_factory):
    backend = request.config.getoption("--db")
    if backend == "postgresql":
        url = os.environ.get("STWS_TEST_POSTGRES_URL")
        if not url:
            pytest.fail("--db=postgresql needs STWS_TEST_POSTGRES_URL (scripts/test starts a server)")
        factory = PostgresDatabases(url)
    else:
        factory = SqliteDatabases(tmp_path_factory.mktemp("sqlite"))
    yield factory
    factory.close()


@pytest.fixture
def database_url(databases):
    url = databases.new_url()
    yield url
    if isinstance(databases, PostgresDatabases):
        databases.drop(url)


# ---------------------------------------------------------------- server


class LiveServer:
    def __init__(self, web: WebService, runtime):
        self.web = web
        self.runtime = runtime
        self.admin = ("admin", ADMIN_PASSWORD)

    @property
    def base_url(self) -> str:
        return self.web.base_url

    def url(self, service: str) -> str:
        return "%s/Services2/%s.asmx" % (self.base_url, service)

    async def client(self, service: str, soap12: bool = False) -> "SoapClient":
        """A zeep client of ``service`` (SOAP 1.1 port, or the 1.2 one)."""
        return await threads.deferToThread(SoapClient, self.url(service), soap12)


@pytest.fixture(scope="session")
def offline_endpoints():
    """An AsmxEndpoint of every service, not served and without a runtime:
    for tests of what the endpoints read and write."""
    from stws.services import SERVICES
    from stws.soap.endpoint import AsmxEndpoint

    return {svc: AsmxEndpoint(svc, None, "http://127.0.0.1:1/Services2/%s.asmx" % svc.__service_name__, 1 << 20)
            for svc in SERVICES}


@pytest.fixture
def make_config(tmp_path, database_url):
    def make(**overrides):
        values = dict(listen="tcp:0:interface=127.0.0.1", data_dir=tmp_path / "data",
                      database=database_url, threads=4)
        values.update(overrides)
        return Config(**values)
    return make


class ServerStarter:
    """Starts servers (a config each) in the test reactor; all are stopped at
    teardown. Call it from a fixture (``start_server(config)``), or await
    ``start_server.started(config)`` inside an async test."""

    def __init__(self):
        self.running = []

    def _prepare(self, config: Config):
        runtime = start_runtime(config)
        web = WebService(runtime, reactor)
        self.running.append((web, runtime))
        return web, runtime

    def __call__(self, config: Config) -> LiveServer:
        web, runtime = self._prepare(config)
        pytest_twisted.blockon(web.startService())
        return LiveServer(web, runtime)

    async def started(self, config: Config) -> LiveServer:
        web, runtime = self._prepare(config)
        await web.startService()
        return LiveServer(web, runtime)

    def stop_all(self):
        for web, runtime in reversed(self.running):
            if web.running:
                pytest_twisted.blockon(web.stopService())
            runtime.close()


@pytest.fixture
def start_server(monkeypatch):
    monkeypatch.setenv("STWS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    starter = ServerStarter()
    yield starter
    starter.stop_all()


@pytest.fixture
def server(make_config, start_server) -> LiveServer:
    return start_server(make_config())


# ---------------------------------------------------------------- clients


def strings(*items):
    """An ArrayOfString argument for zeep."""
    return {"string": list(items)}


def ok(result):
    """``result`` of a call that succeeded (Result true, ResultCode 0)."""
    assert result.Result is True, result.Message
    assert result.ResultCode == 0, result.Message
    return result


def failed(result, code, *mentions) -> str:
    """The message of a call that failed in band with ``code``; it names each of ``mentions``."""
    assert result.Result is False, result
    assert result.ResultCode == int(code), result.Message
    assert result.Message
    for mention in mentions:
        assert mention in result.Message, result.Message
    return result.Message


class SoapClient:
    """A zeep client; ``await client.Operation(...)`` runs the call in a thread.

    Construct it off the reactor thread (``LiveServer.client`` does).
    """

    def __init__(self, url: str, soap12: bool = False):
        import zeep
        from zeep.transports import Transport

        self.zeep = zeep.Client(url + "?WSDL", transport=Transport(timeout=30, operation_timeout=60))
        (name,) = self.zeep.wsdl.services
        self.namespace = "http://www.smartertools.com/SmarterTrack/Services2/%s.asmx" % name
        self.service = self.zeep.bind(name, "%sSoap12" % name if soap12 else "%sSoap" % name)

    def __getattr__(self, operation: str):
        method = getattr(self.service, operation)
        return lambda *args, **kwargs: threads.deferToThread(method, *args, **kwargs)

    def type(self, name: str):
        """A complex type of the service, e.g. to build array arguments."""
        return self.zeep.get_type("{%s}%s" % (self.namespace, name))


@pytest.fixture(scope="module")
def sample_provider(tmp_path_factory):
    """The sample external provider (examples/providers/python) in its own
    process on a loopback port, shared by a module's tests."""
    from test_sample_provider import RunningProvider, write_config

    running = RunningProvider(write_config(tmp_path_factory.mktemp("provider")))
    yield running
    running.stop()
