"""The settings of the seven external providers, as one Key=Value bag.

Keys are ``<Provider>.<Key>`` (``Login.WebServiceUrl``, ``Ticket.Enabled``),
stored in the ``settings`` table as ``providers.<Provider>.<Key>``. Every
provider has Enabled, Mode (BuiltIn or WebService), WebServiceUrl,
WebServicePassword and TimeoutSeconds; Login also has the sign-in page's
and single sign-on's keys (LOGIN_KEYS). Passwords and the single sign-on
secret are write-only: reading gives ``Has<Key>=true|false`` instead.

Setting is all or nothing, and checked as a whole after every item parsed:
an enabled provider in WebService mode needs a URL.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field, fields

from stws.db.models import Setting
from stws.errors import InvalidArgument, NotFound
from stws.domain.properties import InvalidProperties, Property, PropertyBag, parse_bool, parse_int
from stws.security import roles

PREFIX = "providers."
BUILT_IN, WEB_SERVICE = "BuiltIn", "WebService"
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1, 120


@dataclass(frozen=True)
class ProviderKind:
    name: str  # the key prefix, as administrators read it
    label: str  # in messages and the self-diagnostic


PROVIDERS = (
    ProviderKind("Login", "login provider"),
    ProviderKind("Registration", "registration provider"),
    ProviderKind("CustomField", "custom field provider"),
    ProviderKind("Ticket", "ticket provider"),
    ProviderKind("LiveChat", "live chat provider"),
    ProviderKind("UserInformation", "user information provider"),
    ProviderKind("Events", "event provider"),
)
PROVIDERS_BY_NAME = {kind.name.lower(): kind for kind in PROVIDERS}


@dataclass
class ProviderSettings:
    Enabled: bool = False
    Mode: str = BUILT_IN
    WebServiceUrl: str = ""
    WebServicePassword: str = ""
    TimeoutSeconds: int = 10

    @property
    def is_external(self) -> bool:
        return self.Enabled and self.Mode == WEB_SERVICE


@dataclass
class LoginSettings(ProviderSettings):
    ForgotPasswordUrl: str = ""
    CustomLoginUrl: str = ""
    DefaultRole: str = roles.REGISTERED
    MarkEmailVerified: bool = False
    EnableSingleSignOnCookies: bool = False
    SingleSignOnSecret: str = ""


WRITE_ONLY = frozenset({"WebServicePassword", "SingleSignOnSecret"})


def _mode(text: str) -> str:
    value = text.strip().lower().replace(" ", "")
    if value in ("builtin", "internal"):
        return BUILT_IN
    if value in ("webservice", "external", "externalwebservice"):
        return WEB_SERVICE
    raise ValueError("%r is not %s or %s" % (text, BUILT_IN, WEB_SERVICE))


def _url(text: str) -> str:
    """An absolute http(s) URL, or empty (not set)."""
    value = text.strip()
    if not value:
        return ""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("%r is not an absolute http:// or https:// URL" % text)
    return value


def _timeout(text: str) -> int:
    value = parse_int(text)
    if not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:
        raise ValueError("must be between %d and %d seconds" % (MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS))
    return value


# What SmarterTrack's form offers ("registered or anonymous"), by the role names of the README.
_DEFAULT_ROLES = {"registered": roles.REGISTERED, "anonymous": roles.EVERYONE,
                  **{name.lower(): name for name in (roles.REGISTERED, roles.VERIFIED, roles.EVERYONE)}}


def _default_role(text: str) -> str:
    role = _DEFAULT_ROLES.get(text.strip().lower())
    if role is None:
        raise ValueError("%r is not one of %s, %s, %s" % (text, roles.REGISTERED, roles.VERIFIED, roles.EVERYONE))
    return role


_PARSERS = {
    "Enabled": parse_bool, "Mode": _mode, "WebServiceUrl": _url, "WebServicePassword": str,
    "TimeoutSeconds": _timeout, "ForgotPasswordUrl": _url, "CustomLoginUrl": _url, "DefaultRole": _default_role,
    "MarkEmailVerified": parse_bool, "EnableSingleSignOnCookies": parse_bool, "SingleSignOnSecret": str,
}


@dataclass
class AllProviderSettings:
    """Every provider's settings, by ProviderKind.name."""

    by_name: dict = field(default_factory=lambda: {
        kind.name: (LoginSettings() if kind.name == "Login" else ProviderSettings()) for kind in PROVIDERS})


def find(name: str) -> ProviderKind:
    kind = PROVIDERS_BY_NAME.get((name or "").strip().lower())
    if kind is None:
        raise NotFound("There is no provider %r; the providers are: %s." % (
            name, ", ".join(k.name for k in PROVIDERS)))
    return kind


def _properties():
    for kind in PROVIDERS:
        sample = LoginSettings if kind.name == "Login" else ProviderSettings
        for f in fields(sample):
            key = "%s.%s" % (kind.name, f.name)

            def read(_, settings, provider=kind.name, name=f.name):
                return getattr(settings.by_name[provider], name)

            def apply(_, settings, value, provider=kind.name, name=f.name):
                setattr(settings.by_name[provider], name, value)

            secret = f.name in WRITE_ONLY
            yield Property(key, read, _PARSERS[f.name], apply, readable=not secret)
            if secret:
                yield Property("%s.Has%s" % (kind.name, f.name),
                               lambda _, settings, provider=kind.name, name=f.name:
                               bool(getattr(settings.by_name[provider], name)))


SETTINGS_BAG = PropertyBag("External providers", list(_properties()))


def load(session) -> AllProviderSettings:
    settings = AllProviderSettings()
    for row in session.query(Setting).filter(Setting.name.like(PREFIX + "%")):
        provider, _, key = row.name[len(PREFIX):].partition(".")
        target = settings.by_name.get(provider)
        if target is None or key not in _PARSERS or not hasattr(target, key):
            continue
        try:
            setattr(target, key, _PARSERS[key](row.value))
        except (ValueError, InvalidArgument):
            pass  # a bad stored value falls back to the default
    return settings


def change(session, items) -> tuple[list[str], AllProviderSettings, AllProviderSettings]:
    """Apply ``Key=Value`` items, all or nothing: the keys set, and the
    settings before and after."""
    before, after = load(session), load(session)
    changed = SETTINGS_BAG.set(None, after, items)
    _check_whole(after)
    for key in changed:
        provider, _, name = key.partition(".")
        _store(session, "%s%s.%s" % (PREFIX, provider, name), getattr(after.by_name[provider], name))
    return changed, before, after


def _check_whole(settings: AllProviderSettings) -> None:
    problems = {}
    for kind in PROVIDERS:
        provider = settings.by_name[kind.name]
        if provider.is_external and not provider.WebServiceUrl:
            problems["%s.WebServiceUrl" % kind.name] = (
                "the %s is enabled as an external web service, so it needs a Web Service URL" % kind.label)
    if problems:
        raise InvalidProperties("Nothing was changed. " + "; ".join(
            "%s: %s" % item for item in problems.items()) + ".", problems)


def _store(session, name: str, value) -> None:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    row = session.get(Setting, name)
    if row is None:
        session.add(Setting(name=name, value=text))
    else:
        row.value = text
