"""Rows -> svcTickets result objects, shared by the operation modules."""
from __future__ import annotations

from stws.services.tickets import types as T
from stws.shared_values import SharedValues
from stws.soap.writer import RenderedItems, shared_item


def ticket_info(ticket) -> T.TicketInfo:
    """A row of ``core.INFO_COLUMNS`` (ticket columns and its status's is_open, is_active) -> TicketInfo."""
    # Every field is set here, so the constructor's check for unknown and
    # missing fields (stws.soap.types._plain_init) is skipped: it cost more
    # than the fields themselves (2.5 -> 1 us a ticket; a search returns many).
    info = T.TicketInfo.__new__(T.TicketInfo)
    info.__dict__.update(
        CustomerEmailAddress=ticket.customer_email, ID=ticket.id, IdAgent=ticket.agent_id or 0,
        IdCustomer=ticket.customer_id or 0, IdDepartment=ticket.department_id, IdGroup=ticket.group_id,
        IsActive=ticket.is_active, IsDeleted=ticket.is_deleted, IsOpen=ticket.is_open,
        IsPinnedToAgent=ticket.is_pinned_to_agent, IsSpam=ticket.is_spam,
        LastReplyDateUtc=ticket.last_reply_utc or ticket.date_opened_utc, Priority=ticket.priority_id,
        ReplyCountIn=ticket.reply_count_in, ReplyCountOut=ticket.reply_count_out,
        RequiresFollowUp=ticket.requires_follow_up, ShowInFollowUpView=ticket.show_in_follow_up_view,
        Subject=ticket.subject, TicketNumber=ticket.ticket_number,
    )
    return info


# GetTicketsBySearch answers pages of the same tickets again and again
# (integrations poll the same searches), and a TicketInfo cost more to make
# and write (~7 us) than to read. Each row found is the key of its
# TicketInfo, made and written once (RenderedItems): a row that differs in
# any column is another key, so an answer is always what the search read.
# At most 4,096 are kept (about 2 KB each with their XML).
_SHARED_INFOS = SharedValues(most=4096)


def _shared_info(row) -> T.TicketInfo:
    return shared_item(ticket_info(row))


def shared_ticket_infos(rows) -> RenderedItems:
    """``ticket_info`` of each row of ``core.INFO_COLUMNS``, shared by the
    calls that read an equal row, as a RenderedItems."""
    return RenderedItems(_SHARED_INFOS.get(row, _shared_info) for row in rows)
