"""Users, roles, brands, departments, groups and agent membership.

Every function takes the ``Context`` of the operation (its session and
caller) and raises an ``OperationError`` for any failure a client can
cause. Role checks that depend on the data (a user editing their own
profile) are made here; the operation's declared role is checked before
the body runs (stws.operations.organization).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, delete, exists, func, or_, select, update

from stws.db.models import (
    Brand, Department, Group, GroupAgent, RebalanceRule, RebalanceRuleAgent, Role, Ticket, TicketStatus, User, UserRole,
    utcnow,
)
from stws.db.prepared import PreparedInsert, PreparedQuery
from stws.domain import validation
from stws.errors import (
    AlreadyExists, AuthenticationFailed, InUse, InvalidArgument, InvalidState, NotFound, PermissionDenied,
)
from stws.domain.properties import InvalidProperties, Property, PropertyBag, parse_bool, parse_int
from stws.security import roles as role_rules
from stws.security.auth import new_security_stamp, username_key
from stws.security.passwords import PasswordHash, hash_password

DISTRIBUTION_MODES = {
    "queue": "queue", "pullfromqueue": "queue", "pull from queue": "queue", "none": "queue",
    "primary": "primary", "roundrobinprimary": "primary", "round robin primary": "primary",
    "secondary": "secondary", "roundrobinsecondary": "secondary", "round robin secondary": "secondary",
}


# What the directory listings hold: plain immutable values, because a
# listing is cached and shared by every call and thread of the node
# (stws.domain.directory), where ORM rows would outlive their session.


@dataclass(frozen=True)
class AgentEntry:
    """An agent; in a group's listing, with their membership of it."""

    id: int
    username: str
    display_name: str
    email: str
    is_active_agent: bool
    distribution_mode: str = ""
    is_receiving: bool = False
    max_tickets_enabled: bool = False
    max_tickets: int = 0


@dataclass(frozen=True)
class DepartmentEntry:
    id: int
    name: str
    brand_id: int
    email_address: str
    front_line_group_id: int | None
    is_internal: bool


@dataclass(frozen=True)
class GroupEntry:
    id: int
    department_id: int
    name: str
    description: str
    is_front_line: bool


class PropertyValues(NamedTuple):
    """``Key=Value`` items read from a property bag, and the requested keys
    that do not exist."""

    items: list[str]
    unknown: list[str]


@dataclass(frozen=True)
class UserPage:
    """One page of users, and how many users match in all."""

    users: list[User]
    total: int


# --------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------


def _live(call, model, item_id: int, what: str):
    """The row of ``model`` with ``item_id`` unless missing or soft-deleted."""
    item = call.session.get(model, item_id) if item_id else None
    if item is None or item.is_deleted:
        raise NotFound("There is no %s with id %s." % (what, item_id))
    return item


def get_user(call, user_id: int) -> User:
    return _live(call, User, user_id, "user")


def find_user(call, username: str) -> User:
    user = call.session.scalars(
        select(User).where(User.username_key == username_key(username or ""), User.is_deleted.is_(False))
    ).one_or_none()
    if user is None:
        raise NotFound("There is no user named %r." % username)
    return user


def get_brand(call, brand_id: int) -> Brand:
    return _live(call, Brand, brand_id, "brand")


def get_department(call, department_id: int) -> Department:
    return _live(call, Department, department_id, "department")


def get_group(call, group_id: int) -> Group:
    return _live(call, Group, group_id, "group")


def role_by_name(call, name: str) -> Role:
    canonical = role_rules.canonical_role_name(name) or name.strip()
    role = call.session.scalars(select(Role).where(func.lower(Role.name) == canonical.lower())).one_or_none()
    if role is None:
        raise InvalidArgument("There is no role named %r; GetAllRoles lists them." % name)
    return role


def is_agent(user: User) -> bool:
    return any(role.name in role_rules.EMPLOYEE_ROLES for role in user.roles)


# --------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------


def prepare_password(password) -> PasswordHash:
    """Check and hash a new password; done before the transaction opens
    because hashing is slow (scrypt) and must not hold the write lock."""
    return PasswordHash(hash_password(validation.password(password)))


def check_new_user(username, password, email, display_name) -> tuple:
    """The fields of a new user checked all at once, before the transaction
    (no database needed), the password hashed last: the checked
    ``(username, PasswordHash, email, display_name)``. InvalidProperties
    names each bad field by its property key, so a form shows every problem
    beside its field in one go; with one problem its message is that
    field's alone."""
    checks = (("UserName", validation.username, username),
              ("Password", validation.password, password),
              ("Email", validation.email, email),
              ("DisplayName", lambda text: validation.name(text, "display name", required=False), display_name))
    checked, problems = [], {}
    for key, check, value in checks:
        try:
            checked.append(check(value))
        except InvalidArgument as failure:
            problems[key] = failure.message
    if problems:
        raise InvalidProperties(" ".join(problems.values()), problems)
    username, password, email, display_name = checked
    return username, PasswordHash(hash_password(password)), email, display_name


def create_user(call, username, password, email, is_email_verified, display_name, role_names=()) -> User:
    """``password`` is a plain new password or one from ``prepare_password``.
    The user gets Everyone and Registered Users (with Verified Email when
    ``is_email_verified``), or, when ``role_names`` are given, Everyone and
    those."""
    if not isinstance(password, PasswordHash):
        password = prepare_password(password)
    values = new_user_values(username, password, email, is_email_verified, display_name)
    session = call.session
    if session.scalars(select(User.id).where(User.username_key == values["username_key"])).first():
        raise AlreadyExists("The user name %r is taken." % values["username"])
    user = User(**values)
    if not role_names:
        role_names = [role_rules.VERIFIED if is_email_verified else role_rules.REGISTERED]
    try:
        roles = [role_by_name(call, name) for name in [role_rules.EVERYONE, *role_names]]
    except InvalidArgument as failure:
        raise InvalidProperties(failure.message, {"Roles": failure.message}) from None
    user.roles = list(dict.fromkeys(roles))  # Everyone ticked as well is given once
    session.add(user)
    session.flush()
    return user


def new_user_values(username, password: PasswordHash, email, is_email_verified, display_name) -> dict:
    """The checked column values of a new account (``create_user``'s, and
    the email import's, which writes them without an ORM object)."""
    username = validation.username(username)
    return dict(username=username, username_key=username_key(username), email=validation.email(email),
                display_name=validation.name(display_name, "display name", required=False) or username,
                password_hash=hash_password(password), is_email_verified=bool(is_email_verified),
                security_stamp=new_security_stamp())


_USERNAME_TAKEN = PreparedQuery(select(User.id).where(User.username_key == bindparam("key")).limit(1))
_INSERT_USER = PreparedInsert(User.__table__, returning=User.id)
_INSERT_USER_ROLE = PreparedInsert(UserRole.__table__)
_ROLE_IDS = PreparedQuery(select(Role.id, Role.name))


def role_ids(connection) -> dict:
    """{role name: id} of every role (few rows), for ``insert_customer``."""
    return {row.name: row.id for row in _ROLE_IDS.all(connection, {})}


def username_taken(connection, username: str) -> bool:
    return _USERNAME_TAKEN.first(connection, {"key": username_key(username)}) is not None


def insert_customer(connection, values: dict, roles_by_name: dict) -> int:
    """A customer account (``new_user_values``, not verified: Everyone and
    Registered Users, as ``create_user`` gives) written on the driver without
    an ORM object, for the email import's new senders; its id. The caller
    checked that the user name is free (``username_taken``)."""
    user_id = _INSERT_USER.insert(connection, values)
    wanted = (role_rules.EVERYONE, role_rules.VERIFIED if values["is_email_verified"] else role_rules.REGISTERED)
    _INSERT_USER_ROLE.insert_many(connection, [{"user_id": user_id, "role_id": roles_by_name[name]}
                                               for name in wanted])
    return user_id


def link_external_user(call, username: str, email: str, display_name: str, default_role: str,
                       email_verified: bool) -> User:
    """The account the login provider vouched for: the External account
    named ``username``, its email and display name brought up to date from
    the provider (when it gave them), or a new External account with
    Everyone and ``default_role`` (Registered Users with Verified Email
    instead of Registered Users when ``email_verified``, as create_user
    does). An account of that name signing in otherwise (a password) is
    never taken over: AuthenticationFailed, and the provider's word is
    ignored. The values are checked by the caller."""
    session = call.session
    user = session.scalars(select(User).where(User.username_key == username_key(username),
                                              User.is_deleted.is_(False))).one_or_none()
    if user is not None:
        if user.auth_method != "external":
            raise AuthenticationFailed("The account %s signs in with %s, not through the login provider."
                                       % (user.username, user.auth_method.replace("_", " ")))
        if email and user.email != email:
            user.email = email
        if display_name and user.display_name != display_name:
            user.display_name = display_name
        if email_verified and email and not user.is_email_verified:
            user.is_email_verified = True
        return user
    if email_verified and email and default_role == role_rules.REGISTERED:
        default_role = role_rules.VERIFIED
    user = User(username=username, username_key=username_key(username), email=email,
                display_name=display_name or username, password_hash="", auth_method="external",
                is_email_verified=bool(email_verified and email), security_stamp=new_security_stamp())
    user.roles = list(dict.fromkeys(role_by_name(call, name) for name in (role_rules.EVERYONE, default_role)))
    session.add(user)
    session.flush()
    return user


def delete_user(call, user_id: int) -> None:
    user = get_user(call, user_id)
    if user.id == call.principal.user_id:
        raise InvalidState("You cannot delete the account you are calling with.")
    if user.is_primary_admin:
        raise InvalidState("The primary administrator %s cannot be deleted." % user.username)
    # Tickets waiting on this agent go back to their group's queue.
    call.session.execute(update(Ticket).where(Ticket.agent_id == user.id).values(agent_id=None))
    call.session.query(GroupAgent).filter(GroupAgent.user_id == user.id).delete()
    user.is_deleted = True
    user.date_deleted_utc = utcnow()
    # Frees the user name for reuse; the row stays for the 90-day purge.
    user.username_key = "deleted:%d:%s" % (user.id, user.username_key)
    _credentials_changed(call, user)


def _credentials_changed(call, user: User) -> None:
    """Rotate the stamp so cached logins of this user stop working everywhere."""
    user.security_stamp = new_security_stamp()
    cache = call.runtime.authenticator.cache
    call.after_commit.append(lambda: cache.forget_user(user.id))


def _set_password(call, user, value):
    _store_password(call, user, PasswordHash(hash_password(value)))


def _store_password(call, user, password: PasswordHash) -> None:
    user.password_hash = password
    user.force_password_change = False
    user.failed_login_count = 0
    user.lockout_until_utc = None
    _credentials_changed(call, user)


def _set_roles(call, user, names):
    roles = [role_by_name(call, name) for name in names]
    everyone = role_by_name(call, role_rules.EVERYONE)
    if everyone not in roles:
        roles.insert(0, everyone)
    if user.id == call.principal.user_id and role_rules.ADMINISTRATOR not in {r.name for r in roles}:
        if call.principal.has_role(role_rules.ADMINISTRATOR):
            raise InvalidState("You cannot remove the Administrator role from the account you are calling with.")
    user.roles = roles
    if not any(role.name in role_rules.EMPLOYEE_ROLES for role in roles):
        call.session.query(GroupAgent).filter(GroupAgent.user_id == user.id).delete()
    _credentials_changed(call, user)


def set_locked_out(call, user: User, value: bool) -> None:
    """Lock or unlock an account (an unlock also ends a lockout after failed logins)."""
    if value and user.id == call.principal.user_id:
        raise InvalidState("You cannot lock the account you are calling with.")
    user.is_locked_out = value
    if not value:
        user.lockout_until_utc = None
        user.failed_login_count = 0
    _credentials_changed(call, user)


def _set_auth_method(call, user, value):
    user.auth_method = value
    _credentials_changed(call, user)


def _parse_roles(text: str) -> list[str]:
    names = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    return names


def _parse_auth_method(text: str) -> str:
    value = text.strip().lower().replace(" ", "_")
    aliases = {"password": "password", "0": "password", "active_directory": "active_directory",
               "activedirectory": "active_directory", "1": "active_directory", "external": "external",
               "external_provider": "external", "externalprovider": "external", "2": "external"}
    if value not in aliases:
        raise ValueError("%r is not Password, ActiveDirectory or External" % text)
    return aliases[value]


def _setter(attribute):
    def apply(call, user, value):
        setattr(user, attribute, value)
    return apply


def _read(attribute):
    return lambda call, user: getattr(user, attribute)


USER_PROPERTIES = PropertyBag("User", [
    Property("UserID", _read("id")),
    Property("UserName", _read("username")),
    Property("Email", _read("email"), validation.email, _setter("email")),
    Property("EmailAddress", _read("email"), validation.email, _setter("email"), readable=False),
    Property("DisplayName", _read("display_name"),
             lambda text: validation.name(text, "display name"), _setter("display_name")),
    Property("Password", None, validation.password, _set_password, readable=False),
    Property("IsEmailVerified", _read("is_email_verified"), parse_bool, _setter("is_email_verified")),
    Property("Roles", lambda call, user: ",".join(sorted(r.name for r in user.roles)), _parse_roles, _set_roles),
    Property("TimeZone", _read("time_zone"), validation.time_zone, _setter("time_zone")),
    Property("ForcePasswordChange", _read("force_password_change"), parse_bool, _setter("force_password_change")),
    Property("IsLockedOut", _read("is_locked_out"), parse_bool, set_locked_out),
    Property("AuthenticationMethod", _read("auth_method"), _parse_auth_method, _set_auth_method),
    Property("AuthenticationDomain", _read("auth_domain"),
             lambda text: validation.name(text, "authentication domain", required=False), _setter("auth_domain")),
    Property("Signature", _read("signature"), lambda text: text, _setter("signature")),
    Property("IsAgent", lambda call, user: is_agent(user)),
    Property("AvatarUrl", lambda call, user: ""),
    Property("DateCreatedUtc", _read("date_created_utc")),
    Property("DateLastLoginUtc", _read("date_last_login_utc")),
])

# What a user may change on their own account without being an administrator.
SELF_SERVICE_KEYS = {"email", "emailaddress", "displayname", "password", "timezone", "signature"}


def get_user_properties(call, user_id: int, requested) -> PropertyValues:
    user = get_user(call, user_id)
    if user.id != call.principal.user_id:
        call.require(role_rules.AGENT)
    return PropertyValues(*USER_PROPERTIES.get(call, user, requested))


def set_user_properties(call, user_id: int, assignments) -> list[str]:
    user = get_user(call, user_id)
    if not call.principal.has_role(role_rules.ADMINISTRATOR):
        if user.id != call.principal.user_id:
            raise PermissionDenied("Only an administrator may change another user's properties.")
        keys = {item.partition("=")[0].strip().lower() for item in assignments or [] if item}
        forbidden = sorted(keys - SELF_SERVICE_KEYS)
        if forbidden:
            raise PermissionDenied(
                "You may change only your own Email, DisplayName, Password, TimeZone and Signature; "
                "not %s." % ", ".join(forbidden)
            )
    return USER_PROPERTIES.set(call, user, assignments)


# The listing queries are built once: composing one cost more than running it.
_AGENT_COLUMNS = (User.id, User.username, User.display_name, User.email, User.is_active_agent)

# Every agent: a user with any employee role.
_ALL_AGENTS = (
    select(*_AGENT_COLUMNS)
    .where(User.is_deleted.is_(False),
           User.id.in_(select(UserRole.user_id).join(Role).where(Role.name.in_(role_rules.EMPLOYEE_ROLES))))
    .order_by(User.username_key)
)

_GROUP_AGENTS = (
    select(*_AGENT_COLUMNS, GroupAgent.distribution_mode, GroupAgent.is_receiving, GroupAgent.max_tickets_enabled,
           GroupAgent.max_tickets)
    .join(GroupAgent, GroupAgent.user_id == User.id)
    .where(GroupAgent.group_id == bindparam("group_id"), User.is_deleted.is_(False))
    .order_by(User.username_key)
)


def all_agents(call) -> list[AgentEntry]:
    """Every agent by user name.

    Read as rows, not User objects: loading and tracking 50 entities cost
    more than the rest of GetAllAgents (bench/soap_throughput.py c).
    """
    return [AgentEntry(*row) for row in call.connection.execute(_ALL_AGENTS)]


# --------------------------------------------------------------------------
# The user list (the management interface's users page)
# --------------------------------------------------------------------------

MAX_PAGE_SIZE = 500


def _contains(column, text: str, sqlite: bool):
    """``column`` contains ``text``, in any case; its % and _ match literally."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # SQLite's LIKE ignores the case of ASCII letters (as far as its lower()
    # would) and costs no function call per row; PostgreSQL's ILIKE ignores
    # case in all of Unicode.
    return column.like(pattern, escape="\\") if sqlite else column.ilike(pattern, escape="\\")


def list_users(call, search_text: str | None, role: str | None, offset: int, count: int) -> UserPage:
    """Users sorted by user name: ``count`` of them from ``offset``, whose
    user name, email or display name contains ``search_text`` (any case;
    empty = all) and who were given ``role`` (empty = any role; roles as
    assigned, not the ones they imply), and how many match in all.

    Fast with many users: without a filter, the page walks the user name
    index and the total is a count of the soft-delete index. A substring
    match has to read every user, so a filtered list reads them once, the
    page's ids and the total together (a window count); the role test is
    a primary key probe of user_roles per user (EXISTS).
    """
    if offset is None or offset < 0:
        raise InvalidArgument("offset must be zero or more.")
    if count is None or not 1 <= count <= MAX_PAGE_SIZE:
        raise InvalidArgument("count must be between 1 and %d." % MAX_PAGE_SIZE)
    conditions = [User.is_deleted.is_(False)]
    text = (search_text or "").strip()
    if text:
        sqlite = call.connection.dialect.name == "sqlite"
        conditions.append(or_(
            # username_key is the user name casefolded (its unique index).
            _contains(User.username_key, username_key(text), sqlite),
            _contains(User.email, text, sqlite),
            _contains(User.display_name, text, sqlite),
        ))
    if (role or "").strip():
        role_id = role_by_name(call, role).id
        conditions.append(exists().where(UserRole.user_id == User.id, UserRole.role_id == role_id))
    page = select(User.id).where(*conditions).order_by(User.username_key).offset(offset).limit(count)
    total = None
    if len(conditions) == 1:
        ids = list(call.connection.scalars(page))
    else:
        rows = call.connection.execute(page.add_columns(func.count().over())).all()
        ids = [user_id for user_id, _ in rows]
        if rows:
            total = rows[0][1]
        elif offset == 0:
            total = 0
    if total is None:  # unfiltered, or a page past the last match
        total = call.connection.scalar(select(func.count()).select_from(User).where(*conditions))
    users = {user.id: user for user in call.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return UserPage([users[user_id] for user_id in ids], total)


# --------------------------------------------------------------------------
# Brands, departments, groups
# --------------------------------------------------------------------------


def all_brands(call) -> list[Brand]:
    return list(call.session.scalars(select(Brand).where(Brand.is_deleted.is_(False)).order_by(Brand.id)))


def create_brand(call, name: str, host_header: str) -> Brand:
    name = validation.name(name, "brand name")
    _unique_name(call, Brand, name, "brand")
    brand = Brand(name=name, host_header=validation.name(host_header, "host header", 255, required=False))
    call.session.add(brand)
    call.session.flush()
    return brand


def update_brand(call, brand_id: int, name: str, host_header: str, is_default: bool) -> Brand:
    brand = get_brand(call, brand_id)
    name = validation.name(name, "brand name")
    _unique_name(call, Brand, name, "brand", exclude_id=brand.id)
    brand.name = name
    brand.host_header = validation.name(host_header, "host header", 255, required=False)
    if is_default and not brand.is_default:
        call.session.execute(update(Brand).values(is_default=False))
        brand.is_default = True
    elif not is_default and brand.is_default:
        raise InvalidState("Make another brand the default first; there must always be one.")
    return brand


def delete_brand(call, brand_id: int) -> None:
    brand = get_brand(call, brand_id)
    if brand.is_default:
        raise InUse("Brand %r is the default brand; make another brand the default first." % brand.name)
    live = call.session.scalars(
        select(Department.name).where(Department.brand_id == brand.id, Department.is_deleted.is_(False))
    ).all()
    if live:
        raise InUse("Brand %r still has departments: %s." % (brand.name, ", ".join(live)))
    brand.is_deleted = True
    brand.date_deleted_utc = utcnow()


_ALL_DEPARTMENTS = (
    select(Department.id, Department.name, Department.brand_id, Department.email_address,
           Department.front_line_group_id, Department.is_internal)
    .where(Department.is_deleted.is_(False)).order_by(Department.id)
)


def all_departments(call) -> list[DepartmentEntry]:
    return [DepartmentEntry(*row) for row in call.connection.execute(_ALL_DEPARTMENTS)]


def create_department(call, brand_id: int, name: str, email: str, front_line_group_name: str) -> Department:
    brand = get_brand(call, brand_id)
    name = validation.name(name, "department name")
    group_name = validation.name(front_line_group_name or "Level 1", "front line group name")
    _unique_name(call, Department, name, "department")
    department = Department(brand_id=brand.id, name=name, email_address=validation.email(email, required=False))
    call.session.add(department)
    call.session.flush()
    group = Group(department_id=department.id, name=group_name)
    call.session.add(group)
    call.session.flush()
    department.front_line_group_id = group.id
    return department


def delete_department(call, department_id: int) -> None:
    department = get_department(call, department_id)
    if _open_ticket_count(call, Ticket.department_id == department.id):
        raise InUse("Department %r has open tickets; close or transfer them first." % department.name)
    now = utcnow()
    for group in department.groups:
        if not group.is_deleted:
            group.is_deleted, group.date_deleted_utc = True, now
            call.session.query(GroupAgent).filter(GroupAgent.group_id == group.id).delete()
    department.is_deleted, department.date_deleted_utc = True, now


_ALL_GROUPS = (
    select(Group.id, Group.department_id, Group.name, Group.description,
           Department.front_line_group_id == Group.id)
    .join(Department, Group.department_id == Department.id)
    .where(Group.is_deleted.is_(False), Department.is_deleted.is_(False)).order_by(Group.id)
)


def all_groups(call) -> list[GroupEntry]:
    # front_line is NULL for a department without a front line group.
    return [GroupEntry(id_, department_id, name, description, bool(front_line))
            for id_, department_id, name, description, front_line in call.connection.execute(_ALL_GROUPS)]


def create_group(call, department_id: int, name: str, description: str) -> Group:
    department = get_department(call, department_id)
    name = validation.name(name, "group name")
    _unique_group_name(call, department.id, name)
    group = Group(department_id=department.id, name=name,
                  description=validation.name(description, "description", 1000, required=False))
    call.session.add(group)
    call.session.flush()
    return group


def update_group(call, group_id: int, name: str, description: str) -> Group:
    group = get_group(call, group_id)
    name = validation.name(name, "group name")
    _unique_group_name(call, group.department_id, name, exclude_id=group.id)
    group.name = name
    group.description = validation.name(description, "description", 1000, required=False)
    return group


def delete_group(call, group_id: int) -> None:
    group = get_group(call, group_id)
    if group.department.front_line_group_id == group.id:
        raise InUse("Group %r is the front line group of department %r; make another group the front line "
                    "group first." % (group.name, group.department.name))
    if _open_ticket_count(call, Ticket.group_id == group.id):
        raise InUse("Group %r has open tickets; transfer them first." % group.name)
    call.session.query(GroupAgent).filter(GroupAgent.group_id == group.id).delete()
    group.is_deleted, group.date_deleted_utc = True, utcnow()


def _unique_name(call, model, name, what, exclude_id=None):
    query = select(model.id).where(func.lower(model.name) == name.lower(), model.is_deleted.is_(False))
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if call.session.scalars(query).first() is not None:
        raise AlreadyExists("A %s named %r exists already." % (what, name))


def _unique_group_name(call, department_id, name, exclude_id=None):
    query = select(Group.id).where(
        Group.department_id == department_id, func.lower(Group.name) == name.lower(), Group.is_deleted.is_(False)
    )
    if exclude_id is not None:
        query = query.where(Group.id != exclude_id)
    if call.session.scalars(query).first() is not None:
        raise AlreadyExists("The department has a group named %r already." % name)


def _open_ticket_count(call, condition) -> int:
    return call.session.scalar(
        select(func.count(Ticket.id)).join(TicketStatus, Ticket.status_id == TicketStatus.id)
        .where(condition, TicketStatus.is_open.is_(True), Ticket.is_deleted.is_(False))
    )


def _set_front_line(call, department, group_id):
    group = get_group(call, group_id)
    if group.department_id != department.id:
        raise InvalidArgument("Group %s belongs to another department." % group_id)
    department.front_line_group_id = group.id


def _set_brand(call, department, brand_id):
    department.brand_id = get_brand(call, brand_id).id


def _set_department_name(call, department, name):
    _unique_name(call, Department, name, "department", exclude_id=department.id)
    department.name = name


def _hours(text):
    value = parse_int(text)
    if not 1 <= value <= 24 * 3650:
        raise ValueError("must be between 1 and 87600")
    return value


DEPARTMENT_PROPERTIES = PropertyBag("Department", [
    Property("DepartmentID", _read("id")),
    Property("Name", _read("name"), lambda text: validation.name(text, "department name"), _set_department_name),
    Property("BrandID", _read("brand_id"), parse_int, _set_brand),
    Property("EmailAddress", _read("email_address"),
             lambda text: validation.email(text, required=False), _setter("email_address")),
    Property("IsInternal", _read("is_internal"), parse_bool, _setter("is_internal")),
    Property("FrontLineGroupID", _read("front_line_group_id"), parse_int, _set_front_line),
    Property("AutoCloseEnabled", _read("auto_close_enabled"), parse_bool, _setter("auto_close_enabled")),
    Property("AutoCloseHours", _read("auto_close_hours"), _hours, _setter("auto_close_hours")),
    Property("AutoCloseSendEmailToClient", _read("auto_close_send_email"), parse_bool,
             _setter("auto_close_send_email")),
    Property("AutoLockEnabled", _read("auto_lock_enabled"), parse_bool, _setter("auto_lock_enabled")),
    Property("AutoLockHours", _read("auto_lock_hours"), _hours, _setter("auto_lock_hours")),
    Property("AutoDeleteEnabled", _read("auto_delete_enabled"), parse_bool, _setter("auto_delete_enabled")),
    Property("AutoDeleteDays", _read("auto_delete_days"), _hours, _setter("auto_delete_days")),
    Property("AutoDeleteCallLogEnabled", _read("auto_delete_call_log_enabled"), parse_bool,
             _setter("auto_delete_call_log_enabled")),
    Property("AutoDeleteCallLogDays", _read("auto_delete_call_log_days"), _hours,
             _setter("auto_delete_call_log_days")),
    Property("AutoResponderEnabled", _read("auto_responder_enabled"), parse_bool,
             _setter("auto_responder_enabled")),
    Property("AutoResponderSubject", _read("auto_responder_subject"),
             lambda text: validation.name(text, "auto-responder subject", 500, required=False),
             _setter("auto_responder_subject")),
    Property("AutoResponderBody", _read("auto_responder_body"), lambda text: text, _setter("auto_responder_body")),
])


def get_department_properties(call, department_id, requested) -> PropertyValues:
    return PropertyValues(*DEPARTMENT_PROPERTIES.get(call, get_department(call, department_id), requested))


def set_department_properties(call, department_id, assignments):
    return DEPARTMENT_PROPERTIES.set(call, get_department(call, department_id), assignments)


# --------------------------------------------------------------------------
# Agents in groups
# --------------------------------------------------------------------------


def agents_of_group(call, group_id: int) -> list[AgentEntry]:
    """The group's agents by user name, with their membership."""
    group = get_group(call, group_id)
    rows = call.connection.execute(_GROUP_AGENTS, {"group_id": group.id})
    return [AgentEntry(id_, username, display_name, email, bool(active), mode, bool(receiving), bool(limited),
                       max_tickets)
            for id_, username, display_name, email, active, mode, receiving, limited, max_tickets in rows]


def add_agent_to_group(call, group_id, user_id, mode, max_tickets_enabled, max_tickets) -> GroupAgent:
    group = get_group(call, group_id)
    user = get_user(call, user_id)
    if not is_agent(user):
        raise InvalidArgument("User %s is not an agent; give them the Agent role first." % user.username)
    mode_key = (mode or "queue").strip().lower()
    if mode_key not in DISTRIBUTION_MODES:
        raise InvalidArgument("%r is not a distribution mode; use Queue, Primary or Secondary." % mode)
    if max_tickets is None or max_tickets < 0:
        raise InvalidArgument("maxTickets must be zero or more.")
    membership = call.session.get(GroupAgent, (group.id, user.id))
    if membership is None:
        membership = GroupAgent(group_id=group.id, user_id=user.id)
        call.session.add(membership)
    membership.distribution_mode = DISTRIBUTION_MODES[mode_key]
    membership.max_tickets_enabled = bool(max_tickets_enabled)
    membership.max_tickets = max_tickets
    return membership


def remove_agent_from_group(call, group_id: int, user_id: int) -> None:
    membership = call.session.get(GroupAgent, (group_id, user_id))
    if membership is None:
        raise NotFound("User %s is not a member of group %s." % (user_id, group_id))
    call.session.delete(membership)
    # Their open tickets in that group go back to the group's queue.
    call.session.execute(
        update(Ticket).where(Ticket.group_id == group_id, Ticket.agent_id == user_id,
                             Ticket.status_id.in_(select(TicketStatus.id).where(TicketStatus.is_open.is_(True))))
        .values(agent_id=None, is_pinned_to_agent=False)
    )


def all_roles(call) -> list[Role]:
    return list(call.session.scalars(select(Role).order_by(Role.display_order, Role.id)))


# --------------------------------------------------------------------------
# Rebalance rules (run by the Ticket Watcher: stws.domain.tickets.watcher)
# --------------------------------------------------------------------------

MAX_HOLD_SECONDS = 30 * 86400
MAX_INTERVAL_SECONDS = 366 * 86400
_TIME_OF_DAY = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _time_of_day(text: str | None, what: str) -> dt.time | None:
    """``"HH:MM"`` (UTC) -> time; empty -> None."""
    if not (text or "").strip():
        return None
    match = _TIME_OF_DAY.match(text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise InvalidArgument("%s %r is not a time of day as HH:MM (UTC), e.g. 08:30; leave it empty for none."
                              % (what, text))
    return dt.time(int(match.group(1)), int(match.group(2)))


def _seconds(value, what: str, maximum: int) -> int:
    if value is None or not 0 <= value <= maximum:
        raise InvalidArgument("%s must be between 0 and %d seconds, not %r." % (what, maximum, value))
    return value


def create_rebalance_rule(call, name, department_id, group_id, include_all_agents, agent_ids,
                          interval_seconds, on_activate, on_deactivate, times, hold_compose, hold_read,
                          hold_assigned, hold_pinned) -> RebalanceRule:
    """A rule spreading a group's active tickets over its receiving agents.

    ``department_id`` 0 means the group's department; otherwise the group
    must belong to it. Without ``include_all_agents`` the rule covers
    ``agent_ids``, each an agent of the group. A rule needs a trigger: an
    interval, a time of day (``times``: three "HH:MM" UTC or empty) or an
    agent starting/stopping to receive. Names are unique.
    """
    name = validation.name(name, "rule name")
    taken = call.session.scalars(select(RebalanceRule.id).where(func.lower(RebalanceRule.name) == name.lower()))
    if taken.first() is not None:
        raise AlreadyExists("A rebalance rule named %r exists already." % name)
    group = get_group(call, validation.positive_id(group_id, "groupID"))
    department = get_department(call, group.department_id)
    if department_id and department_id != department.id:
        raise InvalidArgument("Group %s (%s) belongs to department %s, not %s."
                              % (group.id, group.name, department.id, department_id))
    agent_ids = [agent_id for agent_id in (agent_ids or []) if agent_id is not None]
    if include_all_agents and agent_ids:
        raise InvalidArgument("agentIDs must be empty when includeAllAgents is true (the rule then covers "
                              "every agent of the group).")
    if not include_all_agents and not agent_ids:
        raise InvalidArgument("Give the agents the rule covers in agentIDs, or set includeAllAgents.")
    members = set(call.session.scalars(select(GroupAgent.user_id).where(GroupAgent.group_id == group.id)))
    for agent_id in agent_ids:
        user = get_user(call, agent_id)
        if agent_id not in members:
            raise InvalidArgument("%s is not an agent of group %s (%s); AddAgentToGroup first."
                                  % (user.username, group.id, group.name))
    interval_seconds = _seconds(interval_seconds, "executeOnIntervalSeconds", MAX_INTERVAL_SECONDS)
    times = [_time_of_day(text, "executeAtTimeUtc%d" % (n + 1)) for n, text in enumerate(times)]
    if not (interval_seconds or on_activate or on_deactivate or any(times)):
        raise InvalidArgument("The rule would never run: give an interval, a time of day, or run it when an "
                              "agent starts or stops receiving.")
    rule = RebalanceRule(
        name=name, department_id=department.id, group_id=group.id, include_all_agents=bool(include_all_agents),
        execute_on_interval_seconds=interval_seconds, execute_on_agent_activate=bool(on_activate),
        execute_on_agent_deactivate=bool(on_deactivate),
        execute_at_time_utc_1=times[0], execute_at_time_utc_2=times[1], execute_at_time_utc_3=times[2],
        hold_seconds_compose=_seconds(hold_compose, "holdSecondsCompose", MAX_HOLD_SECONDS),
        hold_seconds_read=_seconds(hold_read, "holdSecondsRead", MAX_HOLD_SECONDS),
        hold_seconds_assigned=_seconds(hold_assigned, "holdSecondsAssigned", MAX_HOLD_SECONDS),
        hold_seconds_pinned=_seconds(hold_pinned, "holdSecondsPinned", MAX_HOLD_SECONDS),
        date_created_utc=utcnow(),
    )
    call.session.add(rule)
    call.session.flush()
    for agent_id in sorted(set(agent_ids)):
        call.session.add(RebalanceRuleAgent(rule_id=rule.id, user_id=agent_id))
    call.session.flush()
    return rule


def rebalance_rules(call) -> list[tuple[RebalanceRule, list[int]]]:
    """Every rule with the ids of the agents it names (empty: all of its group)."""
    rules = call.session.scalars(select(RebalanceRule).order_by(RebalanceRule.id)).all()
    agents: dict[int, list[int]] = {}
    for rule_id, user_id in call.session.execute(
            select(RebalanceRuleAgent.rule_id, RebalanceRuleAgent.user_id)
            .order_by(RebalanceRuleAgent.rule_id, RebalanceRuleAgent.user_id)):
        agents.setdefault(rule_id, []).append(user_id)
    return [(rule, agents.get(rule.id, [])) for rule in rules]


def delete_rebalance_rule(call, rule_id: int) -> None:
    rule = call.session.get(RebalanceRule, rule_id) if rule_id else None
    if rule is None:
        raise NotFound("There is no rebalance rule with id %s." % rule_id)
    call.session.execute(delete(RebalanceRuleAgent).where(RebalanceRuleAgent.rule_id == rule.id))
    call.session.delete(rule)


def set_own_password(call, password: PasswordHash) -> str:
    """Give the caller's account a new password (hashed before the
    transaction); returns the account's new security stamp."""
    user = get_user(call, call.principal.user_id)
    _store_password(call, user, password)
    return user.security_stamp
