"""What the login and registration providers say about an account, as
values stws can store."""
from __future__ import annotations

import logging

from stws.domain import validation
from stws.errors import InvalidArgument

providers_log = logging.getLogger("stws.providers")


def sentence(text: str) -> str:
    """``text`` ending with a full stop (a provider's Message inside ours)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def account_values(answer, username: str) -> tuple[str, str]:
    """The EmailAddress and DisplayName a provider answered (empty when it
    gave none), each dropped and logged when it cannot be stored: a bad
    value from the provider must not stop the account."""
    values = []
    for key, check in (("EmailAddress", lambda text: validation.email(text, required=False)),
                       ("DisplayName", lambda text: validation.name(text, "display name", required=False))):
        try:
            values.append(check(answer.get(key)))
        except InvalidArgument as failure:
            providers_log.warning("the %s provider: ignored %s of %s: %s", answer.provider, key, username,
                                  failure.message)
            values.append("")
    return values[0], values[1]
