"""svcTickets operations: finding tickets, counting them, closing, deleting,
status, URL and related items. Bound to stws.operations.tickets.lifecycle.

Counting buckets (see stws.domain.tickets.lifecycle): Active = open and
active status; Waiting = open, not active; FollowUp = a follow-up is
scheduled (whatever the status); Queued = active with no agent. Deleted
tickets are never counted.
"""
from __future__ import annotations

from stws.domain.directory import Listing
from stws.domain.tickets import lifecycle, search
from stws.operations.tickets import lifecycle as ops
from stws.services.tickets import types as T
from stws.services.tickets.convert import shared_ticket_infos
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Int, String
from stws.soap.writer import RenderedOnce


def _count_info(counts: lifecycle.Counts) -> T.TicketCountInfo:
    return T.TicketCountInfo(
        ActiveTicketCount=counts.active, BrandId=counts.brand_id, DepartmentId=counts.department_id,
        FollowUpTicketCount=counts.follow_up, GroupId=counts.group_id, UserId=counts.user_id,
        WaitingTicketCount=counts.waiting,
    )


def _count_infos(counted: Listing) -> RenderedOnce:
    """A shared Listing of Counts as result objects, written once."""
    return RenderedOnce(map(_count_info, counted))


@binds(ops.add_related_item, ("ticketNumber", String), ("relatedItemNumber", String), returns=T.GenericResult,
       auth_user_param="authUsername")
def AddRelatedItem(link):
    """Relate a ticket to another ticket (by its ticket number) or to a call log
    (by its call number); a ticket number is tried first. The link is stored
    once, from ``ticketNumber`` to the related item, and recorded in the
    ticket's history.

    Result codes: NOT_FOUND (5) when either number is unknown or not visible
    to the caller; INVALID_ARGUMENT (4) for an empty number or a ticket
    related to itself; ALREADY_EXISTS (6) when the link exists;
    INVALID_STATE (7) when the ticket is closed and locked.
    """
    return {}


@binds(ops.search_tickets, ("searchCriteria", ArrayOfString), returns=T.TicketInfoArrayResult)
def GetTicketsBySearch(found: search.Found):
    """Tickets matching every ``Key=Value`` item of searchCriteria (AND), among
    the tickets the caller can see; no items = all of them. Keys are
    case-insensitive:

    EmailAddress (customer address), IsOpen (true/false), IsActive
    (true/false; Active as opposed to Waiting or closed), Status (names or
    ids, comma-separated: any of them), Priority (names or ids,
    comma-separated), UserId (customer user id; 0 = no account), AgentId
    (0 = unassigned), GroupId, DepartmentId, BrandId, TicketNumber (exact),
    Subject (contains, case-insensitive), Text (every word, as a whole word
    or the start of one, in the subject, a message or, for agents, a note;
    matched through the full-text index, case and accents ignored; text
    not indexed yet matches as a substring), DateOpenedFrom,
    DateOpenedTo, LastReplyFrom, LastReplyTo (ISO 8601, e.g.
    2026-01-31T13:45:00Z; without an offset UTC; both ends inclusive),
    IsDeleted (default false; true needs the Manager role), MaxResults
    (1..10000, default 1000), Offset (default 0).

    Sorting: SortBy (also sent as SortField) is LastReplyDateUtc (the
    default), DateOpened, ID, TicketNumber, Subject (case-insensitive) or
    Priority (by rank, Urgent highest); SortOrder is Descending (the
    default) or Ascending (also Desc, Asc). Values are case-insensitive,
    e.g. ``sortorder=ascending``. Ties are sorted by ticket id in the same
    direction; tickets without a reply come last either way. When more
    tickets match than MaxResults, Message says which Offset returns the
    next page (and is empty otherwise).

    Unknown or repeated keys, empty or malformed values: INVALID_ARGUMENT
    (4), naming every one of them; nothing is ignored.
    """
    message = ""
    if found.next_offset is not None:
        message = ("More tickets match than were returned; ask again with Offset=%d for the next page."
                   % found.next_offset)
    return {"Tickets": shared_ticket_infos(found.tickets), "Message": message}


@binds(ops.delete_ticket, ("ticketId", Int), returns=T.GenericResult)
def DeleteTicket(ticket):
    """Delete a ticket (Manager or Administrator role; agents cannot).

    Deletion is soft: the ticket is flagged deleted and disappears from
    every operation; the purge removes it and its attachments' files later.
    Closed-and-locked tickets can be deleted too (the lock protects the
    content, deleting is how old tickets leave). The deletion is recorded
    in the ticket's history. A ticket already deleted is NOT_FOUND (5).
    """
    return {}


@binds(ops.agent_ticket_counts, returns=T.TicketCountInfoArrayResult)
def GetTicketCounts_Agent(counted):
    """The calling agent's own tickets (assigned to them), counted per brand,
    department and group: Active, Waiting and FollowUp. Every group the
    agent belongs to has an entry, with zeros if need be; UserId is the
    caller's id."""
    return {"TicketCounts": [_count_info(c) for c in counted]}


@binds(ops.global_ticket_counts, returns=T.TicketCountInfoArrayResult)
def GetTicketCounts_Global(counted):
    """Active, Waiting and FollowUp counts per (brand, department, group,
    agent) over every ticket the caller can see (all tickets for managers
    and administrators, the tickets of their groups for agents). UserId 0
    stands for unassigned tickets. Only combinations with at least one
    counted ticket are listed, sorted by brand, department, group, agent."""
    if isinstance(counted, Listing):  # shared by the calls that read the same counts
        return {"TicketCounts": counted.derived(_count_infos)}
    return {"TicketCounts": [_count_info(c) for c in counted]}


@binds(ops.open_ticket_count, returns=T.IntRequestResult)
def GetTicketCount(count):
    """The number of open (Active or Waiting) tickets the caller can see:
    every open ticket for managers and administrators, those of their
    groups or assigned to them for agents, their own for customers."""
    return {"RequestResult": count}


@binds(ops.group_ticket_info, returns=T.SettingsRequestResult)
def GetGroupTicketInfo(items):
    """For each group the caller belongs to (in id order), these items:
    ``Group.<id>.Name=<name>``, ``Group.<id>.DepartmentId=<id>``,
    ``Group.<id>.Active=<n>``, ``Group.<id>.Waiting=<n>``,
    ``Group.<id>.Queued=<n>`` (active, no agent) and
    ``Group.<id>.FollowUp=<n>``, counted over all tickets of the group.
    A caller in no group gets an empty list."""
    return {"RequestResults": items}


@binds(ops.close_ticket, ("ticketNumber", String), ("closingComment", String), returns=T.GenericResult)
def CloseTicket(ticket):
    """Set the ticket's status to Closed and its closing date; a non-empty
    closingComment is added as a Resolution note (listed as Type 12 by
    GetTicketConversationPartList; a deleted ticket with a resolution is
    never purged). Both are recorded in the ticket's history.

    Result codes: NOT_FOUND (5) for an unknown or invisible ticket;
    INVALID_STATE (7) when it is already closed, closed and locked, or has
    empty custom fields its template requires for closing.
    """
    return {}


@binds(ops.ticket_status, ("ticketNumber", String), returns=T.StringRequestResult)
def GetTicketStatus(status_name):
    """RequestResult is the display name of the ticket's status (Active,
    Waiting, Closed, Closed and Locked, or a custom status)."""
    return {"RequestResult": status_name}


@binds(ops.ticket_url, ("ticketNumber", String), returns=T.StringRequestResult)
def GetTicketURL(url):
    """RequestResult is the absolute URL of the ticket in the management
    interface: ``<public base URL>/Main/frmTicket.aspx?ticket=<number>``."""
    return {"RequestResult": url}
