"""``twistd -n stws``: command-line options and the service of the process."""
from __future__ import annotations

import sys

from twisted.application.service import ServiceMaker
from twisted.python import usage

from stws.config import Config, ConfigError
from stws.runtime import start_runtime


class Options(usage.Options):
    optParameters = [
        ["config", "c", None, "INI file with a [stws] section using the option names below as keys"],
        ["listen", "l", None, "Twisted endpoint to listen on (default tcp:9996:interface=127.0.0.1)"],
        ["public-url", None, None, "Base URL clients use, written into the WSDL (default: the listen address)"],
        ["data-dir", "d", None, "Data directory (default ./data)"],
        ["database", None, None, "SQLAlchemy URL (default: SQLite file in the data directory); "
                                 "e.g. postgresql+psycopg://user:pw@host/db"],
        ["threads", None, None, "Threads serving SOAP calls (default 8)"],
        ["max-request-size", None, None, "Largest request body in bytes (default 33554432)"],
        ["max-attachment-size", None, None, "Largest ticket attachment in bytes (default 26214400)"],
        ["thread-intervals", None, None, "Background thread intervals, e.g. 'Ticket Watcher=30; Cleaner=600'"],
        ["directory-cache", None, None, "on (default) or off: cache the agent, department and group listings"],
    ]

    def postOptions(self):
        try:
            self.stws_config = Config.load(dict(self), self["config"])
        except ConfigError as error:
            raise usage.UsageError(str(error))


def makeService(options):
    from twisted.internet import reactor

    from stws.server import make_application_service

    runtime = start_runtime(options.stws_config)
    if runtime.generated_admin_password:
        # Shown once: it is stored only as a hash.
        sys.stderr.write(
            "\n  stws created the administrator account 'admin' with password: %s\n"
            "  (set STWS_ADMIN_PASSWORD before the first start to choose it)\n\n"
            % runtime.generated_admin_password
        )
    top = make_application_service(runtime, reactor)
    reactor.addSystemEventTrigger("after", "shutdown", runtime.close)
    return top


# ``twistd stws`` (twisted/plugins/stws_plugin.py names it) and ``stws serve``.
SERVICE_MAKER = ServiceMaker("stws", "stws.twistd", "Help desk server with SmarterTrack-compatible SOAP web services",
                             "stws")
