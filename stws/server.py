"""The server of one process: the site with ``/Services2/``, listening on the
configured endpoint, as a Twisted service that starts and stops cleanly."""
from __future__ import annotations

import logging

from twisted.application import service
from twisted.internet import defer, endpoints, threads
from twisted.python.threadpool import ThreadPool
from twisted.web.server import Site

from stws import heap
from stws.services import SERVICES
from stws.soap.endpoint import AsmxEndpoint
from stws.db.group_commit import GroupCommitPool, YieldsToCommitGroups
from stws.db.upkeep import DatabaseUpkeep
from stws.soap.hosting import CaseInsensitiveDirectory, SoapPools, build_services_directory, make_bounded_request
from stws.web import pages  # noqa: F401 - registers the management interface's pages
from stws.web.admin import AdminResource
from stws.web.attachments import AttachmentsResource
from stws.web.strict_http import LimitedHTTPChannel

system_log = logging.getLogger("stws.system")


# Threads of the quick-read pool on SQLite (SoapPools): two, so one runs
# Python while the other waits on SQLite. Quick writes run on one thread
# that commits them in groups (stws.db.group_commit).
SQLITE_READ_THREADS = 2
# Threads answering the management interface's pages.
WEB_THREADS = 4


class StwsSite(Site):
    """The site; its services are installed once the listening address (and
    so the public URL that goes into every WSDL) is known."""

    # Twisted's HTTP/1.1 channel, answering 414/431 over its header limits
    # (stws.web.strict_http).
    protocol = LimitedHTTPChannel

    def __init__(self, runtime, **kwargs):
        self.root = CaseInsensitiveDirectory()
        # No resource here takes HTML form posts, and Twisted's form check
        # parses every POST's Content-Type with the email package: 13 % of
        # the reactor's time under CreateTicketFromCustomer load.
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(self.root, **kwargs)
        self.runtime = runtime
        self.requestFactory = make_bounded_request(runtime.config.max_request_size)
        self.displayTracebacks = False
        self.endpoints: list[AsmxEndpoint] = []
        self.base_url = ""

    def install_services(self, reactor, pools: SoapPools, base_url: str) -> None:
        self.base_url = base_url
        self.runtime.base_url = base_url
        self.endpoints = [
            AsmxEndpoint(svc, self.runtime, "%s/Services2/%s.asmx" % (base_url, svc.__service_name__),
                         self.runtime.config.max_request_size)
            for svc in SERVICES
        ]
        self.root.add("Services2", build_services_directory(self.endpoints, reactor, pools))
        # Ticket attachment downloads (the downloadUrl of svcTickets' TicketAttachmentInfo).
        self.root.add("Attachments", AttachmentsResource(self.runtime, reactor))
        # The management interface (stws.web.admin).
        self.root.add("admin", AdminResource(self.runtime, reactor, pools.web, base_url.startswith("https:")))


class WebService(service.Service):
    """Listens on ``config.listen``; runs SOAP calls and the management
    interface's pages on thread pools of their own."""

    name = "web"

    def __init__(self, runtime, reactor):
        self.runtime = runtime
        self.reactor = reactor
        self.site = StwsSite(runtime)
        threads = runtime.config.threads
        general = ThreadPool(minthreads=1, maxthreads=threads, name="soap")
        # On SQLite, quick reads get a small pool of their own (see
        # SoapPools), and quick writes one thread that commits them in
        # groups; the transactions of writes from other threads (the
        # management interface, SOAP writes whose password had to be
        # verified) go there too (runtime.write_groups).
        # Those quick reads and the pages wait for a running group before they
        # start (writes first, stws.db.group_commit says why).
        reads = None
        web = ThreadPool(minthreads=1, maxthreads=WEB_THREADS, name="web")
        self.write_groups = None
        if runtime.db.is_sqlite and threads > SQLITE_READ_THREADS:
            self.write_groups = GroupCommitPool(runtime.db)
            reads = YieldsToCommitGroups(ThreadPool(minthreads=1, maxthreads=SQLITE_READ_THREADS, name="soap-reads"),
                                         self.write_groups)
            web = YieldsToCommitGroups(web, self.write_groups)
        self.pools = SoapPools(general, reads, self.write_groups, web)
        self.port = None

    @defer.inlineCallbacks
    def startService(self):
        super().startService()
        for pool in self.pools.all():
            pool.start()
        self.runtime.remote.start()
        self.runtime.write_groups = self.write_groups
        endpoint = endpoints.serverFromString(self.reactor, self.runtime.config.listen)
        try:
            self.port = yield endpoint.listen(self.site)
        except Exception:
            yield self._stop_pools()
            raise
        base_url = self.runtime.config.base_url_for_port(self.port.getHost().port)
        self.site.install_services(self.reactor, self.pools, base_url)
        system_log.info("serving %s/Services2/", base_url)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self.port is not None:
            yield self.port.stopListening()
        yield self._stop_pools()

    def _stop_pools(self):
        # Join the pools from another thread: joining on the reactor thread
        # would hold it (and every other connection) until calls in flight end.
        def stop_all():
            self.runtime.remote.stop()
            for pool in self.pools.all():  # the commit-group thread last
                if pool is self.write_groups:
                    self.runtime.write_groups = None
                pool.stop()
        return threads.deferToThread(stop_all)

    @property
    def base_url(self) -> str:
        return self.site.base_url


class DatabaseUpkeepService(service.Service):
    """stws.db.upkeep's thread (WAL checkpoints on SQLite, tally folds) as a service."""

    name = "db-upkeep"

    def __init__(self, db):
        self.upkeep = DatabaseUpkeep(db)

    def startService(self):
        super().startService()
        self.upkeep.start()

    def stopService(self):
        super().stopService()
        return threads.deferToThread(self.upkeep.stop)  # joining waits up to one step


def make_application_service(runtime, reactor) -> service.MultiService:
    """Everything the process runs, as one service (the twistd plugin's)."""
    from stws.workers import registry
    from stws.workers.framework import WorkerService

    top = service.MultiService()
    # Before the thread pools start (stws.heap says why).
    heap.limit_arenas()
    heap.HeapTrimService(reactor).setServiceParent(top)
    # First in (after the heap's), so stopped last: checkpoints and folds what the others wrote.
    DatabaseUpkeepService(runtime.db).setServiceParent(top)
    WebService(runtime, reactor).setServiceParent(top)
    runtime.workers = WorkerService(runtime, registry.definitions(runtime.config.thread_intervals), reactor)
    runtime.workers.setServiceParent(top)
    # Last in: started after everything the process keeps for its life is made.
    heap.StartupFreezeService(reactor).setServiceParent(top)
    return top
