"""Settings > Tools > External Providers, through the operations
svcExternalProviders runs (stws.operations.providers).

An Options tab switches the seven providers on and off; each enabled one
has a tab of its own with its settings and a Test button (TestProvider's
outcome, shown on the tab). Tabs are links, so the page needs no script.

Forms post the providers' own ``<Provider>.<Key>`` settings keys as field
names, so a refused value's reason (InvalidProperties.by_key) lands beside
its field; a save is all or nothing. The Web Service Password and the
single sign-on secret are write-only: no page holds them, the tab says
whether one is set, an empty field keeps it and "Remove" clears it.
"""
from __future__ import annotations

from dataclasses import replace

from stws.errors import InvalidArgument, OperationError
from stws.domain.properties import InvalidProperties
from stws.operations import providers
from stws.providers.settings import BUILT_IN, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS, PROVIDERS, WEB_SERVICE
from stws.security import roles
from stws.web.admin import Page, route
from stws.web.forms import Field, as_items, entered, from_items
from stws.web.pages.organization import administrators

BASE = "/settings/external-providers"
REFUSED = "External providers are set by administrators."

# (provider, tab label, Options checkbox label), in SmarterTrack's order.
TABS = (
    ("Login", "Login", "Enable login provider"),
    ("Registration", "Registration", "Enable registration provider"),
    ("CustomField", "Custom Fields", "Enable custom field provider"),
    ("Ticket", "Ticket", "Enable ticket provider"),
    ("LiveChat", "Live Chat", "Enable live chat provider"),
    ("UserInformation", "User Information", "Enable user information provider"),
    ("Events", "Events", "Enable events provider"),
)
assert [name for name, _, _ in TABS] == [kind.name for kind in PROVIDERS]
TAB_LABELS = {name: label for name, label, _ in TABS}
LABELS = {kind.name: kind.label for kind in PROVIDERS}
OPTION_FIELDS = tuple(Field("%s.Enabled" % name, label, "checkbox") for name, _, label in TABS)

# Write-only settings, and the checkbox that clears each.
SECRETS = {"WebServicePassword": "Remove the password", "SingleSignOnSecret": "Remove the secret"}


def _option_fields(stored: dict) -> tuple[Field, ...]:
    """The Options checkboxes, each saying what its provider does now."""
    fields = []
    for f in OPTION_FIELDS:
        name = f.key.partition(".")[0]
        if not stored.get(f.key):
            now = "Off: stws's built-in behaviour."
        elif stored.get("%s.Mode" % name) == WEB_SERVICE:
            now = "On: the web service at %s." % (stored.get("%s.WebServiceUrl" % name) or "(no URL)")
        else:
            now = "On: built-in (choose a web service on its tab)."
        fields.append(replace(f, help=now))
    return tuple(fields)


def _provider_fields(name: str, stored: dict | None = None) -> tuple[Field, ...]:
    """The fields of a provider's tab, keyed ``<name>.<Key>`` (a secret's
    "Remove" checkbox: ``<name>.Clear<Key>``, shown when one is set in
    ``stored``; every field when ``stored`` is None, to read a post)."""

    def field(key, *args, **kwargs):
        return Field("%s.%s" % (name, key), *args, **kwargs)

    fields = [
        field("Mode", "Provider", "select", choices=((BUILT_IN, "Built-in"), (WEB_SERVICE, "Web Service")),
              help="Built-in: stws decides alone. Web Service: stws asks the web service below."),
        field("WebServiceUrl", "Web Service URL",
              help="The provider's .asmx address (http:// or https://), e.g. https://example.com/provider.asmx."),
        field("WebServicePassword", "Web Service Password", "password",
              help="Sent to the provider as authPW with every call; the provider refuses any other."),
        field("ClearWebServicePassword", SECRETS["WebServicePassword"], "checkbox"),
        field("TimeoutSeconds", "Timeout (seconds)", "number",
              help="How long stws waits for an answer: %d to %d." % (MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)),
    ]
    if name == "Login":
        fields += [
            field("ForgotPasswordUrl", "Forgot Password URL",
                  help="Where the sign-in page's \"Forgot password\" link leads; empty: stws's own."),
            field("CustomLoginUrl", "Custom Login URL", help="A sign-in page of your own; empty: stws's."),
            field("DefaultRole", "Default Role for Users", "select", choices=(
                (roles.REGISTERED, "Registered users"),
                (roles.VERIFIED, "Registered users with verified email"),
                (roles.EVERYONE, "Anonymous (everyone)"))),
            field("MarkEmailVerified", "Mark email addresses as verified", "checkbox",
                  help="Addresses the provider gives are trusted as verified."),
            field("EnableSingleSignOnCookies", "Enable single sign-on cookies from other sites", "checkbox"),
            field("SingleSignOnSecret", "Single sign-on shared secret", "password",
                  help="The secret the other sites sign their cookies with."),
            field("ClearSingleSignOnSecret", SECRETS["SingleSignOnSecret"], "checkbox"),
        ]
    if stored is not None:
        fields = [f for f in fields if not _is_unset_secret_remover(f.key, stored)]
    return tuple(fields)


def _is_unset_secret_remover(key: str, stored: dict) -> bool:
    name, _, setting = key.partition(".")
    return setting.startswith("Clear") and not stored.get("%s.Has%s" % (name, setting[len("Clear"):]))


def _stored(page: Page) -> dict:
    """The providers' settings as form values (checkboxes as bools)."""
    items = page.run(providers.provider_settings)
    fields = OPTION_FIELDS + tuple(f for name in TAB_LABELS for f in _provider_fields(name))
    checkboxes = tuple(f for f in fields if f.kind == "checkbox") + tuple(
        Field("%s.Has%s" % (name, secret), "", "checkbox") for name in TAB_LABELS for secret in SECRETS)
    return from_items(items, checkboxes)


def _secret_notes(name: str, stored: dict) -> dict:
    """What the tab says of each write-only setting it never shows."""
    notes = {}
    for secret in SECRETS:
        key = "%s.Has%s" % (name, secret)
        if key in stored:
            notes["%s.%s" % (name, secret)] = (
                "Set; leave this empty to keep it." if stored[key] else "Not set.")
    return notes


def _render(page: Page, tab: str, status: int = 200, values: dict | None = None, problems: dict | None = None,
            form_error: str = "", test=None, test_error: str = ""):
    page.section = "providers"
    stored = _stored(page)
    enabled = [name for name in TAB_LABELS if stored.get("%s.Enabled" % name)]
    if tab not in enabled:
        tab = "options"
    shown = dict(stored)
    shown.update(values or {})
    fields = _option_fields(stored) if tab == "options" else _provider_fields(tab, stored)
    return page.render("admin/providers.html", status=status, title="External Providers", tab=tab,
                       tabs=[(name, TAB_LABELS[name]) for name in enabled], fields=fields, values=shown,
                       problems=problems or {}, form_error=form_error, stored=stored, labels=LABELS,
                       notes=_secret_notes(tab, stored) if tab != "options" else {},
                       test=test, test_error=test_error)


@route("GET", BASE)
@administrators("providers", REFUSED)
def external_providers(page: Page):
    return _render(page, page.request.arg("tab", "options"))


def _save(page: Page, tab: str, fields, items: list[str]):
    """Run SetProviderSettings with ``items``; the tab again with the
    refusal beside its fields, or a redirect to it with a notice."""
    try:
        page.run(providers.set_provider_settings, items)
    except OperationError as failure:
        by_key = failure.by_key if isinstance(failure, InvalidProperties) else {}
        typed = entered(page.request, fields)
        # The secrets typed are not sent back: the page never holds one.
        typed = {key: value for key, value in typed.items() if key.partition(".")[2] not in SECRETS}
        return _render(page, tab, 400, values=typed, problems=by_key, form_error=failure.message)
    what = "the options" if tab == "options" else "the %s's settings" % LABELS[tab]
    return page.done(page.url(BASE, tab=tab), "Saved %s." % what)


@route("POST", BASE + "/options")
@administrators("providers", REFUSED)
def save_options(page: Page):
    return _save(page, "options", OPTION_FIELDS, as_items(entered(page.request, OPTION_FIELDS)))


def _provider_named(page: Page) -> str:
    name = page.request.field("provider")
    if name not in TAB_LABELS:
        raise InvalidArgument("There is no provider %r." % name)
    return name


def _changes(name: str, values: dict) -> list[str]:
    """The Key=Value items of a provider's tab: a secret only when one was
    typed, or when its "Remove" box is ticked (then empty: cleared)."""
    values = dict(values)
    items = []
    for secret in SECRETS:
        key, clear = "%s.%s" % (name, secret), "%s.Clear%s" % (name, secret)
        if key not in values:
            continue
        typed, remove = values.pop(key), values.pop(clear, False)
        if remove:
            items.append("%s=" % key)
        elif typed:
            items.append("%s=%s" % (key, typed))
    return as_items(values) + items


@route("POST", BASE + "/provider")
@administrators("providers", REFUSED)
def save_provider(page: Page):
    name = _provider_named(page)
    fields = _provider_fields(name)
    return _save(page, name, fields, _changes(name, entered(page.request, fields)))


@route("POST", BASE + "/test")
@administrators("providers", REFUSED)
def test_provider(page: Page):
    """TestProvider with the saved settings, its outcome on the provider's tab."""
    name = _provider_named(page)
    try:
        outcome = page.run(providers.test_provider, name)
    except OperationError as failure:
        return _render(page, name, test_error=failure.message)
    return _render(page, name, test=outcome)
