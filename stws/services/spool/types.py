"""Types of svcSpool.asmx (shared by its operation modules)."""
from __future__ import annotations

from stws.soap.types import TypeFactory, service_namespace

SERVICE_NAME = "svcSpool"
T = TypeFactory(service_namespace(SERVICE_NAME))
