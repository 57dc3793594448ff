"""The relational model of the help desk.

Tables follow the organisation Brand -> Department -> Group -> Agents and the
ticket parts of SmarterTrack (messages, comments, attachments, time logs,
events, links, custom fields). Statuses, priorities, comment types and roles
are rows, not enums, as in SmarterTrack, so they can be renamed and extended.

Indexes are chosen for the lookups the services make on a database of about
a million tickets: by number, by customer email and status, by group/agent
and status, by follow-up due date, by idle start, by deletion date.

All datetimes are stored as naive UTC (``UtcDateTime`` adds the zone back).
"""
from __future__ import annotations

import datetime as dt
import warnings

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in Python, naive UTC in the database (portable)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required: %r" % value)
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UtcDateTime}


class SoftDeleteMixin:
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    date_deleted_utc: Mapped[dt.datetime | None]


# --------------------------------------------------------------------------
# Organisation and accounts
# --------------------------------------------------------------------------


class Brand(SoftDeleteMixin, Base):
    __tablename__ = "brands"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    host_header: Mapped[str] = mapped_column(String(255), default="")
    is_default: Mapped[bool] = mapped_column(default=False)
    smtp_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_accounts.id", ondelete="SET NULL", use_alter=True, name="fk_brands_smtp_account")
    )
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Department(SoftDeleteMixin, Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email_address: Mapped[str] = mapped_column(String(320), default="")
    is_internal: Mapped[bool] = mapped_column(default=False)
    # The group that first receives the department's tickets and chats.
    front_line_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", use_alter=True, name="fk_departments_front_line_group")
    )
    # Lifecycle automation (run by the Ticket Watcher / Call Log Watcher).
    auto_close_enabled: Mapped[bool] = mapped_column(default=False)
    auto_close_hours: Mapped[int] = mapped_column(default=72)
    auto_close_send_email: Mapped[bool] = mapped_column(default=False)
    auto_lock_enabled: Mapped[bool] = mapped_column(default=False)
    auto_lock_hours: Mapped[int] = mapped_column(default=168)
    auto_delete_enabled: Mapped[bool] = mapped_column(default=False)
    auto_delete_days: Mapped[int] = mapped_column(default=365)
    auto_delete_call_log_enabled: Mapped[bool] = mapped_column(default=False)
    auto_delete_call_log_days: Mapped[int] = mapped_column(default=7)
    auto_responder_enabled: Mapped[bool] = mapped_column(default=False)
    auto_responder_subject: Mapped[str] = mapped_column(String(500), default="")
    auto_responder_body: Mapped[str] = mapped_column(Text, default="")
    ticket_custom_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("custom_templates.id")
    )
    smtp_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("smtp_accounts.id", ondelete="SET NULL", use_alter=True, name="fk_departments_smtp_account")
    )
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)

    groups: Mapped[list["Group"]] = relationship(
        back_populates="department", foreign_keys="Group.department_id"
    )


class Group(SoftDeleteMixin, Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_internal: Mapped[bool] = mapped_column(default=False)
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship(
        back_populates="groups", foreign_keys=[department_id]
    )


class Role(Base):
    """The six predefined roles and any custom ones."""

    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    # "user" (portal) or "employee" (management interface).
    category: Mapped[str] = mapped_column(String(20))
    display_order: Mapped[int] = mapped_column(default=0)
    is_custom: Mapped[bool] = mapped_column(default=False)


class User(SoftDeleteMixin, Base):
    """Customers, agents and administrators: one table, told apart by roles."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    # Usernames are unique case-insensitively, as they are in SmarterTrack.
    username_key: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(320), default="", index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    # "password", "active_directory" or "external".
    auth_method: Mapped[str] = mapped_column(String(30), default="password")
    auth_domain: Mapped[str] = mapped_column(String(200), default="")
    is_email_verified: Mapped[bool] = mapped_column(default=False)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Locked by an administrator (IsLockedOut in SmarterTrack).
    is_locked_out: Mapped[bool] = mapped_column(default=False)
    force_password_change: Mapped[bool] = mapped_column(default=False)
    # Changes whenever credentials or rights change; invalidates cached logins.
    security_stamp: Mapped[str] = mapped_column(String(32))
    # Brute-force protection: failures counted in a sliding 5-minute window.
    failed_login_count: Mapped[int] = mapped_column(default=0)
    failed_login_window_start_utc: Mapped[dt.datetime | None]
    lockout_until_utc: Mapped[dt.datetime | None]
    signature: Mapped[str] = mapped_column(Text, default="")
    is_primary_admin: Mapped[bool] = mapped_column(default=False)
    # Agent presence: whether the agent is active, and its last heartbeat.
    is_active_agent: Mapped[bool] = mapped_column(default=False)
    last_heartbeat_utc: Mapped[dt.datetime | None]
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    date_last_login_utc: Mapped[dt.datetime | None]

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="selectin")

    __table_args__ = (
        # Auto-Purge: users deleted long ago (customers make the table large).
        Index("ix_users_deleted", "is_deleted", "date_deleted_utc"),
        # Auto-Inactive: active agents whose heartbeat is old.
        Index("ix_users_active_agent_heartbeat", "is_active_agent", "last_heartbeat_utc"),
    )


# Creating a ticket for an address (CreateTicketFromCustomer*, the email
# import) looks the customer up by lower(email), addresses being stored as
# given: an expression index, with the caveats told at
# ix_tickets_customer_email_lower_status (tests/tickets/test_creation.py
# checks that the lookup's query plan uses it).
Index("ix_users_email_lower", func.lower(User.email))


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class GroupAgent(Base):
    """An agent's membership of a group, with how tickets reach them."""

    __tablename__ = "group_agents"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # "queue" (pull from queue, the default), "primary" or "secondary" round robin.
    distribution_mode: Mapped[str] = mapped_column(String(20), default="queue")
    max_tickets_enabled: Mapped[bool] = mapped_column(default=False)
    max_tickets: Mapped[int] = mapped_column(default=0)
    is_receiving: Mapped[bool] = mapped_column(default=False)
    last_assigned_utc: Mapped[dt.datetime | None]
    # When is_receiving last changed: rebalance rules that run when an agent
    # starts or stops receiving look for changes since their last run.
    receiving_changed_utc: Mapped[dt.datetime | None]


class DirectoryVersion(Base):
    """One row whose ``version`` goes up whenever directory data changes:
    users, their roles, groups and memberships, departments, brands.

    Bumped by database triggers (migration 0008), so every writer counts:
    the ORM, Core updates, raw SQL and other nodes sharing the database.
    stws.domain.directory caches the agent, department and group listings
    per node and rebuilds them when it reads another version.
    """

    __tablename__ = "directory_version"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=0)


class RebalanceRule(Base):
    """Spreads a group's active tickets evenly over its receiving agents
    (Settings > Tickets > Rebalance Rules); run by the Ticket Watcher.

    Triggers: every ``execute_on_interval_seconds`` (0 = never), at up to
    three times of day (UTC), and when an agent of the rule starts or stops
    receiving. Holds: a ticket stays with its agent for ``hold_seconds_*``
    after it was composed on, read, assigned or pinned.
    """

    __tablename__ = "rebalance_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    include_all_agents: Mapped[bool] = mapped_column(default=True)
    execute_on_interval_seconds: Mapped[int] = mapped_column(default=0)
    execute_on_agent_activate: Mapped[bool] = mapped_column(default=False)
    execute_on_agent_deactivate: Mapped[bool] = mapped_column(default=False)
    execute_at_time_utc_1: Mapped[dt.time | None] = mapped_column(Time)
    execute_at_time_utc_2: Mapped[dt.time | None] = mapped_column(Time)
    execute_at_time_utc_3: Mapped[dt.time | None] = mapped_column(Time)
    hold_seconds_compose: Mapped[int] = mapped_column(default=0)
    hold_seconds_read: Mapped[int] = mapped_column(default=0)
    hold_seconds_assigned: Mapped[int] = mapped_column(default=0)
    hold_seconds_pinned: Mapped[int] = mapped_column(default=0)
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    date_last_run_utc: Mapped[dt.datetime | None]


class RebalanceRuleAgent(Base):
    """An agent a rule covers (when it does not include all agents of its group)."""

    __tablename__ = "rebalance_rule_agents"
    rule_id: Mapped[int] = mapped_column(ForeignKey("rebalance_rules.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


# --------------------------------------------------------------------------
# Tickets
# --------------------------------------------------------------------------


class TicketStatus(Base):
    """Active=1, Waiting=2, Closed=3, Closed and Locked=4 (seeded)."""

    __tablename__ = "ticket_statuses"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    english_name: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(default=0)
    is_open: Mapped[bool] = mapped_column()
    is_active: Mapped[bool] = mapped_column()
    is_locked: Mapped[bool] = mapped_column()


class TicketPriority(Base):
    __tablename__ = "ticket_priorities"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class CommentType(Base):
    """General, Resolution, Transfer, Follow-Up, Sticky (seeded)."""

    __tablename__ = "comment_types"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    english_name: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    include_in_search: Mapped[bool] = mapped_column(default=True)
    show_inline: Mapped[bool] = mapped_column(default=True)


class Ticket(SoftDeleteMixin, Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_number: Mapped[str] = mapped_column(String(32), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    customer_email: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    status_id: Mapped[int] = mapped_column(ForeignKey("ticket_statuses.id"))
    priority_id: Mapped[int] = mapped_column(ForeignKey("ticket_priorities.id"))
    date_opened_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    date_first_message_utc: Mapped[dt.datetime | None]
    date_closed_utc: Mapped[dt.datetime | None]
    # When the ticket last changed state; auto-close/lock count from here.
    idle_start_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_reply_utc: Mapped[dt.datetime | None]
    date_modified_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reply_count_in: Mapped[int] = mapped_column(default=0)
    reply_count_out: Mapped[int] = mapped_column(default=0)
    is_spam: Mapped[bool] = mapped_column(default=False)
    is_pinned_to_agent: Mapped[bool] = mapped_column(default=False)
    # Follow-up: at date_follow_up_utc the ticket goes to the given group/agent/status.
    requires_follow_up: Mapped[bool] = mapped_column(default=False)
    show_in_follow_up_view: Mapped[bool] = mapped_column(default=False)
    date_follow_up_utc: Mapped[dt.datetime | None]
    follow_up_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    follow_up_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    follow_up_status_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_statuses.id"))
    follow_up_pin: Mapped[bool] = mapped_column(default=False)
    follow_up_comment_id: Mapped[int | None]
    # Rebalance holds: a ticket stays with its agent for a while after these.
    hold_start_assigned_utc: Mapped[dt.datetime | None]
    hold_start_compose_utc: Mapped[dt.datetime | None]
    hold_start_read_utc: Mapped[dt.datetime | None]
    hold_start_pinned_utc: Mapped[dt.datetime | None]
    # Incremental full-text indexing picks up rows whose content changed.
    is_indexed: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        # With the last reply: a list of a group's (agent's, department's)
        # tickets of one status, newest activity first, is read in index order.
        Index("ix_tickets_group_status_reply", "group_id", "status_id", "last_reply_utc"),
        Index("ix_tickets_agent_status_reply", "agent_id", "status_id", "last_reply_utc"),
        Index("ix_tickets_department_status_reply", "department_id", "status_id", "last_reply_utc"),
        Index("ix_tickets_status_idle", "status_id", "idle_start_utc"),
        Index("ix_tickets_last_reply", "last_reply_utc"),
        # Ticket Watcher, per department: waiting tickets idle since before the
        # auto-close cut-off.
        Index("ix_tickets_status_department_idle", "status_id", "department_id", "idle_start_utc"),
    )


# Indexes of the few tickets a background job or a narrow list looks for,
# partial (migration 0022): a new ticket goes only into the unindexed one
# (until the Indexing thread has indexed it), so creating one updates three
# fewer indexes (of 25), and each is the size of what it finds. A query uses
# one only if its WHERE repeats the index's condition (SQLite's rule;
# PostgreSQL proves it), so the queries use these expressions or write them
# the same way (tests/workers/test_partial_indexes.py explains each query):
FOLLOW_UP_SCHEDULED = Ticket.requires_follow_up.is_(True)  # reminders, follow-ups due, the follow-up list
DELETED = Ticket.is_deleted.is_(True)  # the Auto-Purge; searches of deleted tickets (search._DELETED)
NOT_INDEXED = Ticket.is_indexed == false()  # the Indexing thread, searches' substring fallback
Index("ix_tickets_follow_up", Ticket.date_follow_up_utc,
      sqlite_where=FOLLOW_UP_SCHEDULED, postgresql_where=FOLLOW_UP_SCHEDULED)
Index("ix_tickets_deleted", Ticket.date_deleted_utc, sqlite_where=DELETED, postgresql_where=DELETED)
Index("ix_tickets_unindexed", Ticket.id, sqlite_where=NOT_INDEXED, postgresql_where=NOT_INDEXED)
# Ticket Watcher, per department: closed tickets closed before the auto-lock
# or auto-delete cut-off (deleted ones are not in the range). The query's
# ``date_closed_utc < cutoff`` implies the condition on both databases.
Index("ix_tickets_closed_due", Ticket.is_deleted, Ticket.status_id, Ticket.department_id, Ticket.date_closed_utc,
      sqlite_where=Ticket.date_closed_utc.is_not(None), postgresql_where=Ticket.date_closed_utc.is_not(None))


# GetTicketsBySearch's EmailAddress matches case-insensitively (addresses are
# stored as given, e.g. "John@Example.COM"), so the lookup by address and
# status needs an index on lower(address).
#
# SQLAlchemy cannot reflect expression indexes on SQLite: reflecting the
# table (Alembic batch operations on tables that refer to it, the drift
# check) warns, and the drift check compares this index (and
# ix_users_email_lower) on PostgreSQL only. A batch operation that
# *recreates* ``tickets`` (``users``) on SQLite would drop it: recreate it in
# the same migration (tests/tickets/test_search.py checks that the search's
# query plan uses it).
Index("ix_tickets_customer_email_lower_status", func.lower(Ticket.customer_email), Ticket.status_id)
# The workspace's lists of a group's (department's) tickets of one status,
# sorted by subject, customer, number or status (inside one status: by id),
# read in index order (migration 0016); by priority, one range per priority
# (0018; search._prepared_by_priority).
_LIST_SORT_KEYS = {"subject": (func.lower(Ticket.subject),), "customer": (func.lower(Ticket.customer_email),),
                   "number": (Ticket.ticket_number,), "id": (), "priority": (Ticket.priority_id,)}
for _owner in ("group", "department"):
    for _name, _keys in _LIST_SORT_KEYS.items():
        Index("ix_tickets_%s_status_%s" % (_owner, _name), getattr(Ticket, _owner + "_id"), Ticket.status_id, *_keys,
              Ticket.id)
# Reflection names the index bare, Alembic's comparison in quotes.
warnings.filterwarnings("ignore", message=".*expression-based index "
                        "'?(ix_tickets_customer_email_lower_status|ix_users_email_lower"
                        "|ix_tickets_(group|department)_status_(subject|customer))'?")


class TicketMessage(Base):
    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    # 1 = agent to customer (outgoing), 2 = customer to agent (incoming).
    direction: Mapped[int] = mapped_column()
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_address: Mapped[str] = mapped_column(String(1000), default="")
    to_address: Mapped[str] = mapped_column(Text, default="")
    cc_address: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    date_received_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # RFC 5322 Message-ID of the email (sent or received), for threading replies.
    message_id_header: Mapped[str | None] = mapped_column(String(998), index=True)
    raw_content_path: Mapped[str | None] = mapped_column(String(500))
    is_first_message: Mapped[bool] = mapped_column(default=False)
    is_draft: Mapped[bool] = mapped_column(default=False)
    is_indexed: Mapped[bool] = mapped_column(default=False)


class TicketComment(Base):
    __tablename__ = "ticket_comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    comment_type_id: Mapped[int] = mapped_column(ForeignKey("comment_types.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    is_html: Mapped[bool] = mapped_column(default=False)
    date_entered_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    date_modified_utc: Mapped[dt.datetime | None]
    is_indexed: Mapped[bool] = mapped_column(default=False)


# The Indexing thread reads the rows not indexed yet, in id order, and the
# search matches them by substring until it has: partial indexes hold just
# those few rows (a row leaves its index once indexed).
Index("ix_ticket_messages_unindexed", TicketMessage.id,
      sqlite_where=TicketMessage.is_indexed == false(), postgresql_where=TicketMessage.is_indexed == false())
Index("ix_ticket_comments_unindexed", TicketComment.id,
      sqlite_where=TicketComment.is_indexed == false(), postgresql_where=TicketComment.is_indexed == false())


class TicketAttachment(Base):
    __tablename__ = "ticket_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    file_name_original: Mapped[str] = mapped_column(String(500))
    # Indexed: the Cleaner asks which files on disk no row names.
    file_name_on_disk: Mapped[str] = mapped_column(String(500), index=True)
    # Declared total size (AddTicketAttachment's fileLength) and bytes received so far.
    expected_length: Mapped[int] = mapped_column(BigInteger, default=0)
    length: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_deleted: Mapped[bool] = mapped_column(default=False)


class TimeLogCategory(Base):
    __tablename__ = "time_log_categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class TimeLog(Base):
    __tablename__ = "time_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    call_log_id: Mapped[int | None] = mapped_column(ForeignKey("call_logs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("time_log_categories.id"))
    subject: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    date_start_utc: Mapped[dt.datetime]
    date_end_utc: Mapped[dt.datetime]
    is_billable: Mapped[bool] = mapped_column(default=False)
    is_deleted: Mapped[bool] = mapped_column(default=False)


class TicketEvent(Base):
    """The audit trail: who did what to a ticket, and when."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    date_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    event_type: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(String(1000), default="")
    details: Mapped[str] = mapped_column(Text, default="")


class EventOutbox(Base):
    """A history event waiting for the events provider (RecordEvent).

    Written in the transaction of the action it records, while the Events
    provider is enabled as an external web service; removed once the
    provider acknowledged it (stws.providers.event_delivery). No foreign key
    to the ticket: a purged ticket's events are still delivered, so the row
    carries the ticket's number itself.
    """

    __tablename__ = "event_outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # the eventId the provider deduplicates by
    ticket_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    ticket_number: Mapped[str] = mapped_column(String(32), default="")
    event_type: Mapped[str] = mapped_column(String(50))
    occurred_utc: Mapped[dt.datetime]
    user_name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(1000), default="")
    details: Mapped[str] = mapped_column(Text, default="")
    # Failed deliveries of this event: how many, the last one's time and
    # error, and when the provider refused it, not before when to try again.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_utc: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_utc: Mapped[dt.datetime | None] = mapped_column(index=True)


class TicketLink(Base):
    """A ticket related to another ticket or a call log (AddRelatedItem)."""

    __tablename__ = "ticket_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    linked_ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    linked_call_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_logs.id", ondelete="CASCADE"), index=True
    )
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustomTemplate(Base):
    __tablename__ = "custom_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class CustomField(Base):
    __tablename__ = "custom_fields"
    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), unique=True)
    # "text", "textarea", "number", "date", "checkbox" or "list".
    data_type: Mapped[str] = mapped_column(String(20), default="text")
    default_value: Mapped[str] = mapped_column(Text, default="")
    # List options, one per line.
    options: Mapped[str] = mapped_column(Text, default="")


class CustomTemplateField(Base):
    __tablename__ = "custom_template_fields"
    template_id: Mapped[int] = mapped_column(
        ForeignKey("custom_templates.id", ondelete="CASCADE"), primary_key=True
    )
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    is_visible_to_users: Mapped[bool] = mapped_column(default=True)
    is_visible_to_agents: Mapped[bool] = mapped_column(default=True)
    is_required_by_users: Mapped[bool] = mapped_column(default=False)
    is_required_by_agents: Mapped[bool] = mapped_column(default=False)
    is_required_by_agents_to_close: Mapped[bool] = mapped_column(default=False)


class TicketCustomValue(Base):
    __tablename__ = "ticket_custom_values"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------
# Call logs
# --------------------------------------------------------------------------


class CallLog(SoftDeleteMixin, Base):
    __tablename__ = "call_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_number: Mapped[str] = mapped_column(String(32), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    customer_phone: Mapped[str] = mapped_column(String(64), default="")
    customer_email: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(1000))
    description: Mapped[str] = mapped_column(Text, default="")
    is_outgoing: Mapped[bool] = mapped_column(default=False)
    date_start_utc: Mapped[dt.datetime | None]
    date_end_utc: Mapped[dt.datetime | None]
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    date_modified_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # Auto-Purge: call logs deleted long ago.
    __table_args__ = (Index("ix_call_logs_deleted", "is_deleted", "date_deleted_utc"),)


# Call Log Watcher, per department: live call logs created before its cut-off.
Index("ix_call_logs_department_created", CallLog.is_deleted, CallLog.department_id, CallLog.date_created_utc)



# --------------------------------------------------------------------------
# Mail spool and transfer servers
# --------------------------------------------------------------------------


class OutgoingMessage(Base):
    """A message waiting for (or done with) SMTP delivery.

    The complete RFC 5322 text is stored in the row, committed in the same
    transaction as what caused it (a reply, an auto-responder), before
    anyone is told it was sent.
    """

    __tablename__ = "spool_outgoing"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    ticket_message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_messages.id", ondelete="SET NULL"))
    # "queued", "sending", "sent" or "failed".
    status: Mapped[str] = mapped_column(String(20), default="queued")
    from_address: Mapped[str] = mapped_column(String(1000))
    # Envelope recipients, comma-separated.
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    message_id_header: Mapped[str] = mapped_column(String(998), index=True)
    raw_content: Mapped[bytes] = mapped_column(LargeBinary)
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Not delivered before this time (the delivery delay, then retry backoff).
    next_attempt_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_utc: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    date_sent_utc: Mapped[dt.datetime | None]
    # The account it goes out through (None: the department's, brand's or default one).
    smtp_account_id: Mapped[int | None] = mapped_column(ForeignKey("smtp_accounts.id", ondelete="SET NULL"))
    # Delivery claims: a node sets these atomically before sending; a claim
    # that lapses (the node died mid-delivery) makes the row due again.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_until_utc: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_spool_outgoing_due", "status", "next_attempt_utc"),
        # The management interface's list is sorted by any of these, then by
        # id, and paged at any offset: each is read from its index alone
        # (stws.mail.spool._page). By id too: on SQLite the table itself is
        # no index to page through (each row holds the whole message).
        *[Index("ix_spool_outgoing_by_%s" % column, column)
          for column in ("id", "date_created_utc", "from_address", "recipients", "subject", "status", "attempts")],
    )


class TransferServer(Base):
    """Another SmarterTrack-compatible server tickets can be transferred to."""

    __tablename__ = "transfer_servers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    base_url: Mapped[str] = mapped_column(String(1000))
    username: Mapped[str] = mapped_column(String(200))
    # Needed in clear to call the other server; readable only by administrators.
    password: Mapped[str] = mapped_column(String(1000))
    is_enabled: Mapped[bool] = mapped_column(default=True)


class WebSession(Base):
    """A signed-in browser session of the management interface, shared by
    every node. The browser holds the token; only its SHA-256 is stored, so
    a copy of the database signs nobody in."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The user's security stamp at sign-in: a password change, lock, role
    # change or deletion rotates it and so ends the session.
    security_stamp: Mapped[str] = mapped_column(String(32))
    csrf_token: Mapped[str] = mapped_column(String(64))
    date_created_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Absolute expiry; idle expiry is last_seen_utc + the idle limit.
    expires_utc: Mapped[dt.datetime] = mapped_column(index=True)
    # A one-time notice for the next page (the outcome of the last action).
    flash: Mapped[str] = mapped_column(Text, default="")
    flash_is_error: Mapped[bool] = mapped_column(default=False)
    client_address: Mapped[str] = mapped_column(String(64), default="")


class Setting(Base):
    """A global setting (diagnostics options, mail settings, ...), as text."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------
# Background threads
# --------------------------------------------------------------------------


class ThreadState(Base):
    """One background thread, cluster-wide: switched on or off, which node
    holds its lease, and how its last run went."""

    __tablename__ = "thread_states"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    # The node running the thread holds the lease until it expires; it
    # renews it on every run, so a dead node's lease lapses and another
    # node takes the thread over.
    lease_node: Mapped[str | None] = mapped_column(String(200))
    lease_expires_utc: Mapped[dt.datetime | None]
    last_node: Mapped[str] = mapped_column(String(200), default="")
    last_start_utc: Mapped[dt.datetime | None]
    last_end_utc: Mapped[dt.datetime | None]
    last_duration_ms: Mapped[int] = mapped_column(default=0)
    last_items: Mapped[int] = mapped_column(default=0)
    total_runs: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_utc: Mapped[dt.datetime | None]


class ErrorReport(Base):
    """One distinct error of the error log, cluster-wide: its occurrences not
    mailed yet and when it was last mailed (stws.diagnostics.errormail).
    Every node hands in what it recorded; the Event Processing thread's
    node mails what is due, so the once-a-minute limit holds for the
    cluster, not per node."""

    __tablename__ = "error_reports"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of errormail.error_key
    level: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(200), default="")
    first_text: Mapped[str] = mapped_column(Text, default="")  # of the first occurrence since the last email
    first_seen_utc: Mapped[dt.datetime]
    last_seen_utc: Mapped[dt.datetime]
    last_message: Mapped[str] = mapped_column(Text, default="")
    nodes: Mapped[str] = mapped_column(String(200), default="")  # where it occurred since the last email
    pending: Mapped[int] = mapped_column(Integer, default=0)  # occurrences not mailed yet
    # Other errors a node could not keep (its collector was full), told in this one's next email.
    dropped_others: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_utc: Mapped[dt.datetime | None]


class TicketTransferClaim(Base):
    """A ticket being sent to another instance (TransferTicketToInstance):
    one node at a time, on every node sharing the database. The claim
    expires, so a node that died mid-transfer does not block the ticket
    for good; the transfer deletes it when it ends either way."""

    __tablename__ = "ticket_transfer_claims"
    ticket_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    claimed_by: Mapped[str] = mapped_column(String(200))  # node and a token of this transfer
    claimed_utc: Mapped[dt.datetime]
    expires_utc: Mapped[dt.datetime]


class TicketCount(Base):
    """Ticket counts per (brand, department, group, agent), as the count
    operations report them (Active, Waiting, Follow-up over tickets that are
    not deleted), recomputed as a whole by the Event Processing thread.

    A derived table: no foreign keys (purging a group must not wait for
    it), and rows of the combinations with no counted ticket are absent.
    When it was last recomputed is in ``settings`` (``ticket_counts.computed_utc``)
    too, so an empty table can still be known fresh.
    """

    __tablename__ = "ticket_counts"
    brand_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    department_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    group_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    agent_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 0 = unassigned
    active: Mapped[int] = mapped_column(default=0)
    waiting: Mapped[int] = mapped_column(default=0)
    follow_up: Mapped[int] = mapped_column(default=0)
    computed_utc: Mapped[dt.datetime]

    # GetTicketCounts_Agent reads one agent's rows.
    __table_args__ = (Index("ix_ticket_counts_agent", "agent_id"),)


class TicketTally(Base):
    """Exact ticket counts, kept by triggers on ``tickets`` in the writing
    transaction (migration 0017): every insert, delete and change of a
    counted column appends a row (+1 for the ticket's new combination, -1
    for its old one; deleted tickets count nowhere), so the sum of ``n``
    per combination is always the number of tickets in it. Appending
    rather than updating one row per combination takes no lock another
    writer could wait for (or deadlock on) on PostgreSQL;
    ``stws.db.tallies.fold`` sums the appended rows into one per
    combination every few seconds, so readers sum a few hundred rows.

    Every status is kept (statuses are data: whether one is open is read
    when counting); ``agent_id`` 0 is unassigned. No foreign keys: a
    derived table, as ``ticket_counts``.
    """

    __tablename__ = "ticket_tallies"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int]
    department_id: Mapped[int]
    group_id: Mapped[int]
    agent_id: Mapped[int]
    status_id: Mapped[int]
    follow_up: Mapped[bool]
    n: Mapped[int]


# Keys into rows the Auto-Purge deletes (users, groups, departments, and
# what goes with a ticket) need an index on the referring column: the
# purge asks "does anything still refer to it?", and the database asks the
# same when it checks the key on DELETE (SQLite scans the whole referring
# table per deleted row without one: 54 s to purge 9 users beside 3 million
# ticket events). Mostly-NULL columns get partial indexes (IS NOT NULL):
# smaller, and SQLite's planner, seeing a full index of one NULL value,
# would rather scan the table than use it.
def _referring_index(column, partial=True):
    where = column.is_not(None) if partial else None
    return Index("ix_%s_%s" % (column.table.name, column.name), column, sqlite_where=where,
                 postgresql_where=where)


_referring_index(Ticket.follow_up_agent_id)
_referring_index(Ticket.follow_up_group_id)
_referring_index(TicketMessage.from_user_id)
_referring_index(TicketComment.user_id)
_referring_index(TicketAttachment.user_id)
_referring_index(TicketAttachment.message_id)
_referring_index(TimeLog.user_id)
_referring_index(TicketEvent.user_id)
_referring_index(CallLog.customer_user_id)
_referring_index(CallLog.department_id, partial=False)
_referring_index(OutgoingMessage.ticket_message_id)


class FulltextRemoval(Base):
    """A full-text document whose item (ticket, message, note) was deleted
    for good, waiting for the Indexing thread to take it out of the index.

    Written by AFTER DELETE triggers on tickets, ticket_messages and
    ticket_comments (migration 0005; cascades fire them too); ``doc_id`` is
    ``item id * 4 + kind`` (stws.domain.tickets.fulltext). The index itself
    (an FTS5 table on SQLite, a tsvector table on PostgreSQL) is created by
    that migration and is not a model.
    """

    __tablename__ = "fulltext_removals"
    doc_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


# --------------------------------------------------------------------------
# Mail accounts and the incoming spool
# --------------------------------------------------------------------------


class SmtpAccount(Base):
    """An SMTP server stws sends through; brands and departments pick one."""

    __tablename__ = "smtp_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    server: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=25)
    # "none", "ssl" (TLS from the start) or "starttls".
    security: Mapped[str] = mapped_column(String(10), default="none")
    use_authentication: Mapped[bool] = mapped_column(default=False)
    username: Mapped[str] = mapped_column(String(320), default="")
    # Needed in clear to log in to the server; never returned by reads.
    password: Mapped[str] = mapped_column(String(1000), default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    is_default: Mapped[bool] = mapped_column(default=False)


class PopAccount(Base):
    """A mailbox whose mail becomes tickets of one department."""

    __tablename__ = "pop_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    email_address: Mapped[str] = mapped_column(String(320))
    server: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=110)
    security: Mapped[str] = mapped_column(String(10), default="none")
    username: Mapped[str] = mapped_column(String(320))
    password: Mapped[str] = mapped_column(String(1000), default="")
    leave_on_server: Mapped[bool] = mapped_column(default=False)
    import_frequency_minutes: Mapped[int] = mapped_column(default=5)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Who may open new tickets by email: "anyone", "registered" (known
    # accounts only) or "nobody" (replies to existing tickets only).
    new_ticket_restriction: Mapped[str] = mapped_column(String(20), default="anyone")
    last_check_utc: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class PopAccountUid(Base):
    """A message left on the server that was already downloaded (by UIDL)."""

    __tablename__ = "pop_account_uids"
    account_id: Mapped[int] = mapped_column(ForeignKey("pop_accounts.id", ondelete="CASCADE"), primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), primary_key=True)
    date_seen_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IncomingMessage(Base):
    """A downloaded email: its .eml file in the email folder, and its import.

    ``dedupe_key`` (the Message-ID, or the content hash where there is none)
    is unique: the same message downloaded twice is imported once.
    """

    __tablename__ = "spool_incoming"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("pop_accounts.id", ondelete="SET NULL"))
    dedupe_key: Mapped[str] = mapped_column(String(1000), unique=True)
    file_name: Mapped[str] = mapped_column(String(500))
    from_address: Mapped[str] = mapped_column(String(1000), default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # "pending", "imported", "duplicate", "refused" (by the ticket or custom
    # field provider) or "failed".
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # A pending message whose import had to wait for a provider: not before then.
    next_attempt_utc: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    date_received_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)
    date_imported_utc: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_spool_incoming_status", "status", "id"),
        # The sort orders of the management interface's list (as for the outgoing spool).
        *[Index("ix_spool_incoming_by_%s" % column, column)
          for column in ("id", "date_received_utc", "from_address", "subject", "size", "attempts")],
    )


class AutoResponse(Base):
    """Automatic replies sent, for the per-sender hourly cap (loop protection)."""

    __tablename__ = "auto_responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    date_sent_utc: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_auto_responses_recipient_date", "recipient", "date_sent_utc"),)
