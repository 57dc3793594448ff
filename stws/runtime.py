"""Everything one server process holds: config, database, data folders,
credential checks and log files. Built once by ``start_runtime``."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stws.config import Config, admin_password_from_environment
from stws.datadir import DataDirectory
from stws.diagnostics.errormail import ErrorCollector
from stws.diagnostics.options import OptionsCache
from stws.tracing import Tracing
from stws.db import schema
from stws.db.engine import Database
from stws.domain.seed import seed_administrator, seed_default_organisation, seed_reference_data
from stws.domain.directory import DirectoryCache
from stws.logs import LogFiles
from stws.providers.event_delivery import EventDelivery
from stws.providers.gateway import ProviderGateway
from stws.providers.user_information import UserInformationCache
from stws.remote import PeerClient
from stws.security.auth import Authenticator, CredentialCache

system_log = logging.getLogger("stws.system")


@dataclass
class Runtime:
    config: Config
    data: DataDirectory
    db: Database
    authenticator: Authenticator
    log_files: LogFiles
    # The password generated for ``admin`` at first start, if one was.
    generated_admin_password: str | None = None
    # The public base URL (``http://host:port``), set when the site installs
    # its services; operations build absolute links with it (GetTicketURL).
    base_url: str = ""
    tracing: Tracing = field(default_factory=Tracing)
    options: OptionsCache | None = None
    # On SQLite, the thread that commits quick writes in groups
    # (stws.db.group_commit), once the server has started it; None runs
    # every transaction on its caller's thread.
    write_groups: object = None
    # The WorkerService of this process, when it runs one (thread status).
    workers: object = None
    # Errors written to this node's error log, held until the node hands
    # them in for the error emails (stws.diagnostics.errormail).
    error_mail: ErrorCollector | None = None
    # The agent, department and group listings (stws.domain.directory).
    directory: DirectoryCache = field(default_factory=DirectoryCache)
    # Outbound SOAP (providers, transfer servers): its WSDL cache, circuit
    # breakers and thread pool (started and stopped by the WebService).
    remote: PeerClient = field(default_factory=PeerClient)
    # The external providers where they act (stws.providers.gateway), over ``remote``.
    providers: ProviderGateway | None = None
    # The user information provider's recent answers, by customer.
    user_information: UserInformationCache = field(default_factory=UserInformationCache)
    # The events provider's outbox delivery (stws.providers.event_delivery).
    events: EventDelivery | None = None

    def close(self) -> None:
        if self.error_mail is not None:
            logging.getLogger("stws.error").removeHandler(self.error_mail)
        self.db.dispose()
        self.log_files.close()


def start_runtime(config: Config) -> Runtime:
    """Prepare the data directory and database (creating or upgrading them)."""
    data = DataDirectory(config.data_dir)
    data.create()
    log_files = LogFiles(data.logs)
    # Enough connections that no SOAP thread waits for one: the general
    # pool's, the two quick-read threads and the group-commit thread on SQLite
    # (stws.server), and two spare; the overflow (as many again) covers the
    # background threads and attachment downloads.
    db = Database(config.database_url, pool_size=config.threads + 6)
    schema.upgrade(db.engine)
    with db.transaction() as session:
        seed_reference_data(session)
        seed_default_organisation(session)
        generated = seed_administrator(session, admin_password_from_environment())
    tracing = Tracing()
    tracing.watch_engine(db.engine)
    authenticator = Authenticator(CredentialCache(config.credential_cache_seconds, tracing=tracing))
    system_log.info("database %s at revision %s", db.engine.url.render_as_string(hide_password=True),
                    schema.current_revision(db.engine))
    runtime = Runtime(config, data, db, authenticator, log_files, generated, tracing=tracing)
    runtime.remote = PeerClient(transaction_open=db.in_transaction)
    runtime.providers = ProviderGateway(db, runtime.remote, write_groups=lambda: runtime.write_groups)
    # The Event Processing thread delivers the outbox: a commit that queued
    # events wakes it (on this node, when it runs the threads).
    runtime.events = EventDelivery(db, runtime.providers, wake=lambda: runtime.workers is not None and
                                   runtime.workers.wake("Event Processing"))
    runtime.directory = DirectoryCache(tracing=tracing, enabled=config.directory_cache)
    runtime.options = OptionsCache(db)
    runtime.options.listeners.append(tracing.apply)
    runtime.options.reload()
    # Only records in memory: no database work inside logging calls.
    runtime.error_mail = ErrorCollector()
    logging.getLogger("stws.error").addHandler(runtime.error_mail)
    return runtime
