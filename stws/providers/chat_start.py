"""Asking the live chat provider whether a chat may start: its StartChat.

stws has no live chat yet; this is the client call the chat will make
before it starts (outside any transaction, as every provider call), so that
the provider contract is complete and tested against the sample provider.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from stws.providers.gateway import keys

LIVE_CHAT = "LiveChat"


@dataclass(frozen=True)
class ChatStart:
    allowed: bool
    message: str = ""  # the provider's Message: for the visitor when not allowed
    custom_fields: dict = field(default_factory=dict)  # field name -> value the provider sets (cf_<name>)


def start_chat(runtime, department_name: str, login_username: str = "", email_from: str = "",
               custom_fields: dict | None = None) -> ChatStart:
    """StartChat of the live chat provider (inputs loginUsername and/or
    emailFrom, departmentName, ``cf_<name>=<value>``): allowed unless it
    answers ChatCreation=FALSE; allowed without a call when the provider is
    not enabled as a web service. Raises RemoteFailure / ProviderRefused
    (result code 9) when it cannot be asked."""
    inputs = [*([("loginUsername", login_username)] if login_username else []),
              *([("emailFrom", email_from)] if email_from else []), ("departmentName", department_name),
              *(("cf_" + name, value) for name, value in (custom_fields or {}).items())]
    answer = runtime.providers.call(LIVE_CHAT, "StartChat", inputs, accepts=keys("ChatCreation", "cf_*"))
    if answer is None:
        return ChatStart(True)
    return ChatStart(answer.flag("ChatCreation", True), answer.message, answer.prefixed("cf_"))
