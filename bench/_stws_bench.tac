# The stws server as ``twistd -n stws`` builds it (same Options, same
# makeService, so the same services, logging and reactor), for benchmarks.
# Run by _server.StwsServer as ``twistd -n -y bench/_stws_bench.tac``;
# configured through the environment because twistd -y takes no options:
#
#   STWS_BENCH_DATA_DIR   data directory (required)
#   STWS_BENCH_PORT_FILE  where to write {"port", "base_url", "pid"} once listening (required)
#   STWS_BENCH_LISTEN     Twisted endpoint (default tcp:0:interface=127.0.0.1)
#   STWS_BENCH_THREADS    SOAP threads (default: the server's default)
#   STWS_BENCH_DATABASE   SQLAlchemy URL (default: SQLite in the data directory)
#   STWS_BENCH_EXTRAS     "1" mounts _extras' bare resource and echo service
#   STWS_BENCH_DIRECTORY_CACHE  "off" runs without the directory cache
#   STWS_BENCH_TRACEMALLOC  frames per traceback: traces allocations from the start
#                           (for /bench-memory; slows the server and adds memory)
import os
import sys
import tracemalloc

if os.environ.get("STWS_BENCH_TRACEMALLOC"):
    tracemalloc.start(int(os.environ["STWS_BENCH_TRACEMALLOC"]))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from twisted.application import service  # noqa: E402

import _extras  # noqa: E402
from stws.twistd import Options, makeService  # noqa: E402

_args = [
    "--listen", os.environ.get("STWS_BENCH_LISTEN", "tcp:0:interface=127.0.0.1"),
    "--data-dir", os.environ["STWS_BENCH_DATA_DIR"],
]
if os.environ.get("STWS_BENCH_THREADS"):
    _args += ["--threads", os.environ["STWS_BENCH_THREADS"]]
if os.environ.get("STWS_BENCH_DATABASE"):
    _args += ["--database", os.environ["STWS_BENCH_DATABASE"]]
if os.environ.get("STWS_BENCH_DIRECTORY_CACHE"):
    _args += ["--directory-cache", os.environ["STWS_BENCH_DIRECTORY_CACHE"]]
_options = Options()
_options.parseOptions(_args)
_top = makeService(_options)
_extras.install_start_hook(_top, os.environ["STWS_BENCH_PORT_FILE"], os.environ.get("STWS_BENCH_EXTRAS") == "1")

application = service.Application("stws-bench")
_top.setServiceParent(application)
