"""The six predefined roles and which role satisfies which requirement.

Employee roles nest: an Administrator may do what a Manager may, a Manager
what an Agent may. Portal roles nest the same way below them: a verified
registered user is a registered user, and everybody is Everyone.
"""
from __future__ import annotations

EVERYONE = "Everyone"
REGISTERED = "Registered Users"
VERIFIED = "Registered Users with Verified Email"
AGENT = "Agent"
MANAGER = "Manager"
ADMINISTRATOR = "Administrator"

# (name, category, description), in display order.
PREDEFINED = (
    (EVERYONE, "user", "Every account, including portal visitors"),
    (REGISTERED, "user", "Customers who registered an account"),
    (VERIFIED, "user", "Registered customers whose email address is verified"),
    (AGENT, "employee", "Handles the tickets, chats and call logs of their groups"),
    (MANAGER, "employee", "Agent rights plus every ticket of the groups they manage"),
    (ADMINISTRATOR, "employee", "Full control of the help desk"),
)
PREDEFINED_NAMES = tuple(name for name, _, _ in PREDEFINED)
EMPLOYEE_ROLES = frozenset({AGENT, MANAGER, ADMINISTRATOR})

# Each role and the roles it implies.
_IMPLIES = {
    ADMINISTRATOR: {ADMINISTRATOR, MANAGER, AGENT, VERIFIED, REGISTERED, EVERYONE},
    MANAGER: {MANAGER, AGENT, VERIFIED, REGISTERED, EVERYONE},
    AGENT: {AGENT, VERIFIED, REGISTERED, EVERYONE},
    VERIFIED: {VERIFIED, REGISTERED, EVERYONE},
    REGISTERED: {REGISTERED, EVERYONE},
    EVERYONE: {EVERYONE},
}


def effective_roles(role_names) -> frozenset:
    """Every role the holder of ``role_names`` may act as (custom roles as named)."""
    result = {EVERYONE}
    for name in role_names:
        result |= _IMPLIES.get(name, {name})
    return frozenset(result)


def canonical_role_name(name: str) -> str | None:
    """The predefined role spelled ``name`` in any case, if there is one."""
    key = name.strip().lower()
    for role in PREDEFINED_NAMES:
        if role.lower() == key:
            return role
    return None
