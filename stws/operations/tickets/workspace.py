"""The agents' workspace in the browser: reading a ticket's page, and running
the ticket operations SOAP runs only if the ticket has not changed since the
agent's page showed it (stws.domain.tickets.workspace)."""
from __future__ import annotations

import functools
from dataclasses import replace

from stws.domain.tickets import workspace
from stws.domain.tickets.workspace import ChangedMeanwhile  # noqa: F401 - front doors tell it apart
from stws.operations import organization as org
from stws.operations.runner import OperationSpec, operation
from stws.security import roles


@operation(role=roles.AGENT, writes=False)
def ticket_view(context, ticket_number, part=workspace.CONVERSATION, since: str = "") -> workspace.TicketView:
    """What a tab (``part``) of a ticket's page shows, read in one
    transaction; a ticket the caller may not see (GetTicketInfo's rule) is NotFound.
    ``since``: the version an open page showed, when it refreshes itself:
    the view then also says what changed after it (``changes``)."""
    view = workspace.ticket_view(context, ticket_number, part)
    if since and since != view.header.version:
        view = replace(view, changes=workspace.changes_since(context, view.header.id, since))
    if part == workspace.CONVERSATION:
        # The transfer and assign forms' choices: the directory cache's
        # listings, in this transaction rather than three more.
        view = replace(view, departments=org.get_all_departments(context), groups=org.get_all_groups(context),
                       group_agents=org.get_agents_for_group(context, view.header.group_id))
    return view


@functools.cache
def if_unchanged(spec: OperationSpec) -> OperationSpec:
    """``spec`` with two leading arguments, the ticket's number and the
    version a form carried: in the same transaction, the ticket is checked to
    be at that version (ChangedMeanwhile otherwise), then ``spec``'s body
    runs with its own arguments, role check and provider consultation, so
    the browser's action is exactly its SOAP twin plus the check."""

    def body(context, ticket_number, version, *args):
        workspace.require_version(context, ticket_number, version)
        return spec(context, *args)

    if not spec.transaction:
        raise ValueError("%s opens its own transactions: the version check needs the body's" % spec.name)
    prepare = consult = None
    if spec.prepare is not None:
        def prepare(args):
            return tuple(args[:2]) + tuple(spec.prepare(tuple(args[2:])))
    if spec.consult is not None:
        def consult(context, args):
            return tuple(args[:2]) + tuple(spec.consult(context, tuple(args[2:])))
    return OperationSpec(spec.name + "_if_unchanged", body, spec.role, spec.writes, prepare=prepare, consult=consult,
                         slow=spec.slow)
