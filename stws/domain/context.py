"""The one context object an operation body (and the domain code it calls)
gets, whichever front door started the call."""
from __future__ import annotations

from stws.errors import PermissionDenied


class Context:
    """The transaction, the principal and the runtime of one call.

    ``session`` is the ORM session of the call's transaction, made on first
    use; ``connection`` the same transaction as a Core connection, for hot
    read paths that need no ORM objects. ``after_commit`` holds work to run
    once the transaction has committed (cache invalidation, file removal).
    """

    __slots__ = ("principal", "runtime", "after_commit", "_session", "_unit")

    def __init__(self, principal, runtime, unit=None, session=None):
        self.principal = principal
        self.runtime = runtime
        self.after_commit: list = []
        self._unit = unit
        self._session = session

    @classmethod
    def in_session(cls, session, principal, runtime=None) -> "Context":
        """A context over a transaction its caller opened and ends (the email
        importer, background jobs, tests)."""
        return cls(principal, runtime, session=session)

    @property
    def session(self):
        if self._session is None:
            self._session = self._unit.session
        return self._session

    @property
    def connection(self):
        if self._unit is not None:
            return self._unit.connection
        # What is read through the connection must see the session's changes.
        self._session.flush()
        return self._session.connection()

    def require(self, role: str) -> None:
        require_role(self.principal, role)


def require_role(principal, role: str) -> None:
    """PermissionDenied unless ``principal`` has ``role`` (or one that implies it)."""
    if not principal.has_role(role):
        raise PermissionDenied("The account %s needs the %s role for this operation." % (principal.username, role))
