"""Outbound SOAP: calling other people's web services (external providers,
transfer servers). Infrastructure below the domain: it knows peers, WSDLs,
timeouts and failures, nothing of tickets or settings. See client.py."""
from stws.remote.breaker import CircuitBreakers
from stws.remote.budget import TimeBudget
from stws.remote.client import PeerClient
from stws.remote.errors import FailureKind, RemoteFailure
from stws.remote.single_flight import SingleFlight

__all__ = ["CircuitBreakers", "FailureKind", "PeerClient", "RemoteFailure", "SingleFlight", "TimeBudget"]
