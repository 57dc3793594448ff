"""Rows -> svcTickets result objects, shared by the operation modules."""
from __future__ import annotations

from stws.services.tickets import types as T


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
