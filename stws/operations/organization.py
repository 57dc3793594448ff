"""The organization's operations: users, roles, brands, departments,
groups, agents in groups and rebalance rules.

Declared once for every front door: svcOrganization.asmx binds them
(stws.services.organization), the management interface runs them through
``stws.operations.runner.run``. They return plain values (ORM rows loaded
before the transaction ends, the entries of stws.domain.organization, ids,
lists), never a front door's types; failures are ``OperationError``s.

Arguments come in the order of the SOAP operation's parameters: a binding
passes them on positionally.

Docstrings: where the SOAP operation has a docstring of its own, the body
may have one too; where it has none, the body's would become the
operation's documentation in the WSDL (tests/test_wsdl.py), so a comment
says what it does.
"""
from __future__ import annotations

from stws.domain import organization as org
from stws.domain.directory import Listing
from stws.domain.organization import PropertyValues, UserPage
from stws.operations.runner import operation
from stws.providers import registration
from stws.security import roles

ADMINISTRATOR = roles.ADMINISTRATOR

# ------------------------------------------------------------------ users


def _check_new_user(args):
    # Every field checked at once and the password hashed (scrypt is slow)
    # before the transaction: it holds no write lock.
    username, password, email, is_email_verified, display_name, *rest = args
    username, password, email, display_name = org.check_new_user(username, password, email, display_name)
    return (username, password, email, is_email_verified, display_name, *rest)


def _ask_registration_provider(context, args):
    # The registration provider (when enabled) may refuse the account or
    # give the email address and display name to store; asked before the
    # transaction, after the fields are checked.
    username, password, email, is_email_verified, display_name, *rest = args
    email, display_name = registration.register(context.runtime, username, email, display_name)
    return (username, password, email, is_email_verified, display_name, *rest)


@operation(role=ADMINISTRATOR, prepare=_check_new_user, consult=_ask_registration_provider)
def create_user(context, username, password, email, is_email_verified, display_name) -> int:
    """Create a customer account (roles Everyone and Registered Users, with
    Verified Email when ``is_email_verified``); the new user's id. When the
    registration provider is enabled it is asked first: it may refuse the
    account, or give the email address and display name to store."""
    return org.create_user(context, username, password, email, is_email_verified, display_name).id


@operation(role=ADMINISTRATOR, prepare=_check_new_user, consult=_ask_registration_provider)
def create_user_with_roles(context, username, password, email, is_email_verified, display_name,
                           role_names) -> int:
    """create_user giving the new user Everyone and ``role_names`` (the
    default roles when empty), all or nothing: the management interface's
    New user form. Bad fields are reported by property key
    (InvalidProperties.by_key: UserName, Password, Email, DisplayName, Roles)."""
    return org.create_user(context, username, password, email, is_email_verified, display_name, role_names).id


# The user (roles loaded), or NotFound.
@operation(role=roles.AGENT, writes=False)
def get_user(context, user_id) -> org.User:
    return org.get_user(context, user_id)


# The user named ``username`` (any case), or NotFound.
@operation(role=roles.AGENT, writes=False)
def get_user_by_username(context, username) -> org.User:
    return org.find_user(context, username)


@operation(role=ADMINISTRATOR, writes=False)
def list_users(context, search_text, role, offset, count) -> UserPage:
    """Users sorted by user name, ``count`` (1-500) from ``offset``, with
    the total that match: those whose user name, email or display name
    contains ``search_text`` (any case; empty = all) and who were given
    ``role`` (a role name; empty = any)."""
    return org.list_users(context, search_text, role, offset, count)


@operation(role=roles.EVERYONE, writes=False)
def get_user_properties(context, user_id, requested) -> PropertyValues:
    """``Key=Value`` items of a user (every key when ``requested`` is
    empty). Any user may read their own; others' need the Agent role."""
    return org.get_user_properties(context, user_id, requested)


@operation(role=roles.EVERYONE)
def set_user_properties(context, user_id, items) -> list[str]:
    """Set ``Key=Value`` items, all or nothing; the keys set. A user who is
    not an administrator may set only their own Email, DisplayName,
    Password, TimeZone and Signature."""
    return org.set_user_properties(context, user_id, items)


@operation(role=ADMINISTRATOR)
def set_user_locked_out(context, user_id, locked_out: bool) -> None:
    """Lock an account (its logins fail with AccountLocked at once) or
    unlock it, which also ends a lockout after failed logins. Your own
    account cannot be locked."""
    org.set_locked_out(context, org.get_user(context, user_id), bool(locked_out))


# Soft-delete a user; their tickets go back to their groups' queues.
@operation(role=ADMINISTRATOR)
def delete_user(context, user_id) -> None:
    org.delete_user(context, user_id)


# Every role, in display order.
@operation(role=roles.AGENT, writes=False)
def get_all_roles(context) -> list[org.Role]:
    return org.all_roles(context)


# -------------------------------------------------------- directory listings
#
# Read far more often than the directory changes, they are served from the
# node's directory cache (stws.domain.directory) as Listings: tuples of the
# entries of stws.domain.organization, shared by every call until the
# directory changes. A failure (an unknown group) is not cached.


def _directory_listing(context, key, build) -> Listing:
    return context.runtime.directory.get(context.connection, key, lambda: Listing(build()))


# Every department (DepartmentEntry) by id.
@operation(role=roles.AGENT, writes=False)
def get_all_departments(context) -> Listing:
    return _directory_listing(context, "departments", lambda: org.all_departments(context))


# Every group (GroupEntry) of a live department, by id.
@operation(role=roles.AGENT, writes=False)
def get_all_groups(context) -> Listing:
    return _directory_listing(context, "groups", lambda: org.all_groups(context))


# The group's agents (AgentEntry, with their membership) by user name.
@operation(role=roles.AGENT, writes=False)
def get_agents_for_group(context, group_id) -> Listing:
    return _directory_listing(context, ("group-agents", group_id), lambda: org.agents_of_group(context, group_id))


# Every agent (AgentEntry: a user with an employee role) by user name.
@operation(role=roles.AGENT, writes=False)
def get_all_agents(context) -> Listing:
    return _directory_listing(context, "agents", lambda: org.all_agents(context))


# ------------------------------------------------------- agents in groups


@operation(role=ADMINISTRATOR)
def add_agent_to_group(context, group_id, user_id, distribution_mode, max_tickets_enabled, max_tickets) -> None:
    """Add an agent to a group, or change their membership.
    ``distribution_mode``: Queue (pull from queue, the default), Primary or
    Secondary (round robin)."""
    org.add_agent_to_group(context, group_id, user_id, distribution_mode, max_tickets_enabled, max_tickets)


# Their open tickets in the group go back to its queue.
@operation(role=ADMINISTRATOR)
def remove_agent_from_group(context, group_id, user_id) -> None:
    org.remove_agent_from_group(context, group_id, user_id)


# ------------------------------------------------------------------ brands


# Every live brand by id.
@operation(role=roles.AGENT, writes=False)
def get_all_brands(context) -> list[org.Brand]:
    return org.all_brands(context)


# The new brand's id.
@operation(role=ADMINISTRATOR)
def create_brand(context, name, host_header) -> int:
    return org.create_brand(context, name, host_header).id


# There is always one default brand: another one is made the default, never none.
@operation(role=ADMINISTRATOR)
def update_brand(context, brand_id, name, host_header, is_default) -> None:
    org.update_brand(context, brand_id, name, host_header, is_default)


# Refused (InUse) for the default brand and a brand with departments.
@operation(role=ADMINISTRATOR)
def delete_brand(context, brand_id) -> None:
    org.delete_brand(context, brand_id)


# ------------------------------------------------------------- departments


@operation(role=ADMINISTRATOR)
def create_department(context, brand_id, name, email_address, front_line_group_name) -> int:
    """Create a department with its front line group (default name
    "Level 1"); the department's id."""
    return org.create_department(context, brand_id, name, email_address, front_line_group_name).id


@operation(role=roles.AGENT, writes=False)
def get_department_properties(context, department_id, requested) -> PropertyValues:
    """``Key=Value`` settings of a department (every key when
    ``requested`` is empty)."""
    return org.get_department_properties(context, department_id, requested)


# Set Key=Value items, all or nothing; the keys set.
@operation(role=ADMINISTRATOR)
def set_department_properties(context, department_id, items) -> list[str]:
    return org.set_department_properties(context, department_id, items)


# Refused (InUse) while it has open tickets; its groups go with it.
@operation(role=ADMINISTRATOR)
def delete_department(context, department_id) -> None:
    org.delete_department(context, department_id)


# ------------------------------------------------------------------ groups


# The new group's id.
@operation(role=ADMINISTRATOR)
def create_group(context, department_id, name, description) -> int:
    return org.create_group(context, department_id, name, description).id


@operation(role=ADMINISTRATOR)
def update_group(context, group_id, name, description) -> None:
    org.update_group(context, group_id, name, description)


# Refused (InUse) for a front line group and a group with open tickets.
@operation(role=ADMINISTRATOR)
def delete_group(context, group_id) -> None:
    org.delete_group(context, group_id)


# --------------------------------------------------------- rebalance rules


@operation(role=ADMINISTRATOR)
def create_rebalance_rule(context, name, department_id, group_id, include_all_agents, agent_ids,
                          interval_seconds, on_agent_activate, on_agent_deactivate, time_utc_1, time_utc_2,
                          time_utc_3, hold_seconds_compose, hold_seconds_read, hold_seconds_assigned,
                          hold_seconds_pinned) -> int:
    """A rule spreading a group's active tickets over its receiving agents
    (see stws.domain.organization.create_rebalance_rule); the rule's id.
    Times of day are "HH:MM" UTC or empty."""
    return org.create_rebalance_rule(
        context, name, department_id, group_id, include_all_agents, agent_ids, interval_seconds,
        on_agent_activate, on_agent_deactivate, [time_utc_1, time_utc_2, time_utc_3],
        hold_seconds_compose, hold_seconds_read, hold_seconds_assigned, hold_seconds_pinned).id


@operation(role=ADMINISTRATOR, writes=False)
def get_rebalance_rules(context) -> list[tuple[org.RebalanceRule, list[int]]]:
    """Every rule by id, with the ids of the agents it names (empty: every
    agent of its group)."""
    return org.rebalance_rules(context)


@operation(role=ADMINISTRATOR)
def delete_rebalance_rule(context, rule_id) -> None:
    org.delete_rebalance_rule(context, rule_id)
