"""One's own account in the management interface: signing in and out, and
changing one's password."""
from __future__ import annotations

from stws.domain import organization
from stws.operations.runner import operation
from stws.security import roles, sessions


@operation(role=roles.AGENT)
def open_web_session(context, client_address: str) -> str:
    """A browser session for the caller (already authenticated by the
    runner); returns its token. The interface is for the help desk's staff."""
    return sessions.open_session(context.session, context.principal.user_id, client_address)


@operation(role=roles.EVERYONE)
def close_web_session(context, token: str) -> None:
    sessions.close_session(context.session, token)


@operation(role=roles.EVERYONE, prepare=lambda args: (organization.prepare_password(args[0]),) + tuple(args[1:]))
def change_own_password(context, new_password, session_token: str) -> None:
    """Set a new password (its strength checked and hashed before the
    transaction). The caller's other sessions end; ``session_token``'s stays."""
    stamp = organization.set_own_password(context, new_password)
    sessions.restamp(context.session, session_token, stamp)


@operation(role=roles.EVERYONE)
def leave_notice(context, session_token: str, text: str, is_error: bool) -> None:
    """The one-time notice the next page of this session shows (the outcome
    of an action, after the redirect that follows it)."""
    sessions.set_flash(context.session, session_token, text, is_error)
