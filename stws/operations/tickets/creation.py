"""Creating tickets (as an agent, or as if a customer had written in) and
reading one. Creating a customer's ticket and reading one are hot paths
(bench/tickets_throughput.py): they stay on stws.domain.tickets.core's
prebuilt statements and return its rows and numbers as they are.

Every creation first asks the custom field and ticket providers
(stws.providers.ticket_start) in its ``consult`` step, before its
transaction; with neither enabled that is one look at a settings snapshot.
What they decided (``TicketStart``) is appended to the body's arguments.

The web form also passes the custom field values the agent filled in
(``fields``, display name -> value; SOAP has no such argument): they are
checked by the same rules, with or without providers, and recorded on the
ticket. ``new_ticket_form`` tells the form which fields to show."""
from __future__ import annotations

from stws.domain import organization as org
from stws.domain.tickets import auto_responder, core
from stws.domain.outgoing_mail import queue_ticket_email
from stws.operations.runner import operation
from stws.providers import ticket_start
from stws.security import roles


def _consulting(department_at: int, address_at: int, subject_at: int, arity: int, user_at: int | None = None,
                fields_at: int | None = None):
    """A ``consult`` step for a creation whose arguments hold the department,
    the customer's address, the subject (and the user, and the custom field
    values a form filled in, when given) at these positions: the arguments
    padded to ``arity`` with the providers' ``TicketStart`` after them, or
    unchanged when there is nothing to do."""

    def consult(context, args):
        submitted = args[fields_at] if fields_at is not None and len(args) > fields_at else None
        request = ticket_start.NewTicketRequest(
            department_id=args[department_at], subject=args[subject_at], address=args[address_at] or None,
            user_id=args[user_at] if user_at is not None else None, submitted=dict(submitted or {}),
            submitter_fills_fields=submitted is not None)
        start = ticket_start.consult(context.runtime, request)
        if start is None:
            return args
        return tuple(args) + (None,) * (arity - len(args)) + (start,)

    return consult


def _where(department_id, group_id, start):
    """The department and group a ticket goes to: the ticket provider's
    department (its front line group) when it re-routed the ticket."""
    if start is not None and start.rerouted:
        return start.department_id, None
    return department_id, group_id


@operation(role=roles.AGENT, consult=_consulting(0, 3, 4, arity=13, fields_at=12))
def create_ticket(context, department_id, group_id, agent_id, to_address, subject, body, is_html, set_waiting,
                  send_email, opened=None, idle_start=None, first_message=None, fields=None, start=None) -> str:
    """A ticket started by an agent (``agent_id`` 0: the caller), addressed to
    ``to_address``, back-dated by the dates if given; its number. (``fields``
    reach the ticket through ``start``.)"""
    department_id, group_id = _where(department_id, group_id, start)
    created = core.create_ticket(
        context, department_id=department_id, group_id=group_id, agent_id=agent_id or context.principal.user_id,
        customer_address=to_address, subject=subject, body=body, is_html=is_html, direction=core.OUTGOING,
        status_id=core.WAITING if set_waiting else core.ACTIVE, opened=opened, idle_start=idle_start,
        first_message=first_message,
    )
    ticket_start.record(context, created.id, start)
    if send_email:
        ticket = created.ticket
        queue_ticket_email(context.session, ticket, created.message, [ticket.customer_email], reply=False)
    return created.ticket_number


def _customer_ticket(context, department_id, group_id, user_id, from_address, subject, body, is_html,
                     send_auto_responder, opened=None, idle_start=None, first_message=None, start=None) -> str:
    department_id, group_id = _where(department_id, group_id, start)
    if user_id:
        customer = org.get_user(context, user_id)
        from_address = from_address or customer.email
    created = core.create_ticket(
        context, department_id=department_id, group_id=group_id, agent_id=None, customer_address=from_address,
        subject=subject, body=body, is_html=is_html, direction=core.INCOMING, status_id=core.ACTIVE,
        opened=opened, idle_start=idle_start, first_message=first_message, customer_id=user_id or None,
    )
    ticket_start.record(context, created.id, start)
    if send_auto_responder and created.department.auto_responder_enabled:
        auto_responder.send_auto_responder(context, created, created.department)
    return created.ticket_number


@operation(role=roles.AGENT, consult=_consulting(0, 1, 2, arity=6))
def create_ticket_from_customer(context, department_id, from_address, subject, body, is_html,
                                send_auto_responder, start=None) -> str:
    """A ticket as if the customer at ``from_address`` had written in, in the
    department's front-line group; its number."""
    return _customer_ticket(context, department_id, 0, 0, from_address, subject, body, is_html,
                            send_auto_responder, start=start)


@operation(role=roles.AGENT, consult=_consulting(0, 3, 4, arity=12, user_at=2, fields_at=11))
def create_ticket_from_customer_with_date(context, department_id, group_id, user_id, from_address, subject, body,
                                          is_html, send_auto_responder, opened, idle_start, first_message,
                                          fields=None, start=None) -> str:
    """create_ticket_from_customer into a given group (0: the front line) for
    a given user (0: by the address), back-dated; its number."""
    return _customer_ticket(context, department_id, group_id, user_id, from_address, subject, body, is_html,
                            send_auto_responder, opened, idle_start, first_message, start)


@operation(role=roles.AGENT, writes=False, transaction=False)
def new_ticket_form(context, department_id, address, fields) -> ticket_start.FormEffects:
    """The custom fields the new ticket form shows for a ticket of the
    customer at ``address`` in the department, with the values filled in so
    far (display name -> value): as the custom field provider changes them
    when it is enabled (asked outside any transaction, hence none here)."""
    return ticket_start.form_effects(context.runtime, ticket_start.NewTicketRequest(
        department_id=department_id, subject="", address=(address or "").strip() or None, submitted=dict(fields),
        submitter_fills_fields=True))


# No docstrings on these two: svcTickets' help pages take the operation's
# when the SOAP binding has none, and the contract documents neither.
@operation(role=roles.EVERYONE, writes=False)
def ticket_info(context, ticket_id):
    # A row of core.INFO_COLUMNS, read by one prebuilt query (no ORM session).
    return core.ticket_info_row(context, ticket_id)


@operation(role=roles.EVERYONE, writes=False)
def ticket_info_by_number(context, ticket_number):
    # As ticket_info.
    return core.ticket_info_row_by_number(context, ticket_number)


@operation(role=roles.EVERYONE, writes=False)
def ping_service(context, username) -> bool:
    """True: the caller's credentials work, and ``username``, if given, is an account."""
    if username and username.strip():
        org.find_user(context, username)
    return True
