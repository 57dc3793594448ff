"""One's own account in the management interface: signing in and out, and
changing one's password."""
from __future__ import annotations

from dataclasses import dataclass

from stws.domain import organization
from stws.providers import login as login_provider
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


@dataclass(frozen=True)
class SignInOptions:
    """What the sign-in page offers besides its form, from the login
    provider's settings (all off unless it is enabled as an external web
    service)."""

    custom_login_url: str = ""  # the page to send people to instead of ours
    forgot_password_url: str = ""  # linked from the sign-in form
    sso_cookie: str = ""  # the single sign-on cookie's name, when single sign-on is on


def sign_in_options(runtime) -> SignInOptions:
    """Read before anyone is signed in, so no operation (it has no principal)."""
    settings = runtime.providers.external(login_provider.PROVIDER)
    if settings is None:
        return SignInOptions()
    return SignInOptions(settings.CustomLoginUrl, settings.ForgotPasswordUrl,
                         login_provider.SSO_COOKIE if login_provider.sso_enabled(runtime) else "")
