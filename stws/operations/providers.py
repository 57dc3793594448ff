"""External providers: their settings and a test call, for administrators;
what the user information provider says of a ticket's customer, for agents
(svcExternalProviders; stws.providers)."""
from __future__ import annotations

from stws.domain.context import Context
from stws.domain.tickets import customer_information
from stws.operations.runner import operation
from stws.providers.event_delivery import OutboxStatus
from stws.providers import settings as settings_store
from stws.providers.testing import ProviderTest, probe_configured_provider
from stws.providers.user_information import look_up
from stws.security import roles


@operation(role=roles.ADMINISTRATOR, writes=False)
def provider_settings(context) -> list[str]:
    """Every provider's settings as Key=Value; passwords and the single
    sign-on secret only as Has<Key>=true|false."""
    items, _ = settings_store.SETTINGS_BAG.get(None, settings_store.load(context.session), [])
    return items


@operation(role=roles.ADMINISTRATOR)
def set_provider_settings(context, items) -> list[str]:
    """Set provider settings from Key=Value items, all or nothing; returns the keys set."""
    changed, before, after = settings_store.change(context.session, items)
    remote = context.runtime.remote
    # The provider behind a URL may have changed with its settings: its WSDL
    # is read again and its failures forgotten, at the old URL and the new
    # (only for the providers changed: the others' circuit breakers stay).
    touched = {key.partition(".")[0] for key in changed}
    urls = {settings.by_name[name].WebServiceUrl for name in touched for settings in (before, after)} - {""}
    for url in urls:
        context.after_commit.append(lambda url=url: remote.invalidate(url))
    context.after_commit.append(context.runtime.providers.forget)
    if "Events" in touched:
        # Events queued before the provider was switched off (or while its
        # URL was wrong) go out now, not at the thread's next regular run.
        context.after_commit.append(context.runtime.events.wake)
    # Answers of a provider whose URL or password changed may be wrong now.
    context.after_commit.append(context.runtime.user_information.clear)
    return changed


@operation(role=roles.ADMINISTRATOR, writes=False, slow=True, transaction=False)
def test_provider(context, provider: str) -> ProviderTest:
    """Call the provider's method with an input that changes nothing
    (stws.providers.testing says which, per provider) and report whether it
    answered, whether it accepted the Web Service Password, and how long it
    took. Runs outside any transaction: it waits on another server."""
    return probe_configured_provider(context.runtime, provider)


@operation(role=roles.AGENT, writes=False, slow=True, transaction=False)
def ticket_user_information(context, ticket_number):
    """The user information provider's Key=Value pairs about the customer of
    a ticket the caller may see (stws.domain.tickets.customer_information).
    Runs outside any transaction: it may wait on the provider."""
    runtime = context.runtime
    # A unit of work, as the runner's: no ORM session unless asked for one;
    # it ends before the provider is called (stws.remote's rule).
    with runtime.db.unit_of_work(writes=False) as unit:
        username, email = customer_information.ticket_customer(Context(context.principal, runtime, unit),
                                                               ticket_number)
    return look_up(runtime.providers, runtime.user_information, username, email)


@operation(role=roles.ADMINISTRATOR, writes=False)
def events_outbox_status(context) -> OutboxStatus:
    """The events provider's outbox: events waiting, failing, the oldest's
    age, the last error, and how many this node delivered since it started
    (stws.providers.event_delivery)."""
    return context.runtime.events.status(context.session)
