"""convert.ticket_info skips TicketInfo's constructor: it must still set every field."""
from __future__ import annotations

import collections
import datetime as dt

from stws.domain.tickets.core import INFO_COLUMNS
from stws.services.tickets import types as T
from stws.services.tickets.convert import shared_ticket_infos, ticket_info
from stws.soap.writer import RenderedItems

Row = collections.namedtuple("Row", [column.key for column in INFO_COLUMNS])
WHEN = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


def test_ticket_info_sets_exactly_the_fields_the_constructor_would():
    row = Row(id=7, ticket_number="001-0000000A-0007", customer_email="c@example.com", agent_id=None,
              customer_id=None, department_id=1, group_id=2, is_deleted=False, is_pinned_to_agent=True,
              is_spam=False, last_reply_utc=None, date_opened_utc=WHEN, priority_id=3, reply_count_in=4,
              reply_count_out=5, requires_follow_up=False, show_in_follow_up_view=True, subject="S",
              is_open=True, is_active=False)
    info = ticket_info(row)
    expected = T.TicketInfo(
        CustomerEmailAddress="c@example.com", ID=7, IdAgent=0, IdCustomer=0, IdDepartment=1, IdGroup=2,
        IsActive=False, IsDeleted=False, IsOpen=True, IsPinnedToAgent=True, IsSpam=False,
        LastReplyDateUtc=WHEN, Priority=3, ReplyCountIn=4, ReplyCountOut=5, RequiresFollowUp=False,
        ShowInFollowUpView=True, Subject="S", TicketNumber="001-0000000A-0007")
    assert type(info) is T.TicketInfo
    assert info.__dict__ == expected.__dict__


def test_equal_rows_share_their_ticket_info_and_any_change_makes_another():
    row = Row(id=8, ticket_number="001-0000000A-0008", customer_email="c@example.com", agent_id=3,
              customer_id=None, department_id=1, group_id=2, is_deleted=False, is_pinned_to_agent=False,
              is_spam=False, last_reply_utc=WHEN, date_opened_utc=WHEN, priority_id=3, reply_count_in=4,
              reply_count_out=5, requires_follow_up=False, show_in_follow_up_view=True, subject="S",
              is_open=True, is_active=True)
    (first,) = shared_ticket_infos([row])
    again = shared_ticket_infos([Row(*row)])
    assert type(again) is RenderedItems and again[0] is first
    assert ticket_info(row).__dict__.items() <= first.__dict__.items()
    for changed in (row._replace(subject="T"), row._replace(last_reply_utc=WHEN + dt.timedelta(seconds=1)),
                    row._replace(is_active=False), row._replace(agent_id=None)):
        (info,) = shared_ticket_infos([changed])
        assert info is not first and info.__dict__.items() >= ticket_info(changed).__dict__.items()
