"""Types of svcSpool.asmx, and what its operation modules share in mapping
operation results to them."""
from __future__ import annotations

import datetime as dt

from stws.soap.types import TypeFactory, service_namespace

SERVICE_NAME = "svcSpool"
T = TypeFactory(service_namespace(SERVICE_NAME))

# .NET's DateTime.MinValue, what the contract says for a time that never happened.
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)


def key_values(counts: dict) -> list[str]:
    """{name: value} as the contract's Key=Value strings."""
    return ["%s=%s" % item for item in counts.items()]
