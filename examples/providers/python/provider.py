#!/usr/bin/env python3
"""A sample external provider web service for stws and SmarterTrack.

One SOAP service implementing the methods of all seven external providers
(login, registration, custom field, ticket, live chat, user information,
events), shaped like the ASP.NET ``.asmx`` service a SmarterTrack customer
would write: SOAP 1.1, document/literal wrapped, one parameter ``inputs``
holding ``InputVariables`` (``Key=Value`` strings), a ``<Method>Result``
with ``Success``, ``Message`` and ``OutputVariables``.

Users, rules and options come from one config file (see provider.ini):

    python provider.py --config provider.ini --listen 127.0.0.1:8800
    python provider.py --hash-password          # a password_hash line for a user

Serves ``http://<listen>/provider.asmx`` and its ``?WSDL``. Needs spyne,
lxml and Twisted (all in stws's environment). Copy this file and change the
rules in ``Provider`` to suit; README.md describes every method.

Other providers reuse the service shape by importing this module: subclass
``ProviderBase`` (the authPW check, the methods as Python methods on decoded
``Inputs`` returning a ``Reply``), then ``serve_from_arguments`` (or
``build_wsgi_app`` in a WSGI server of your own). ../ldap/ldap_provider.py
does so.
"""
from __future__ import annotations

import argparse
import base64
import configparser
import getpass
import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger("provider")

# ---------------------------------------------------------------- Key=Value items


def encode_item(key: str, value: str) -> str:
    """``key=value`` with every ``=`` in the key doubled (SmarterTrack's
    StringListConverter): the first single ``=`` separates key and value."""
    return "%s=%s" % (key.replace("=", "=="), value)


def decode_item(item: str) -> tuple[str, str]:
    """The inverse of ``encode_item``. An item without a separator is a key
    with an empty value."""
    key, i = [], 0
    while i < len(item):
        if item[i] == "=":
            if item[i + 1:i + 2] == "=":
                key.append("=")
                i += 2
                continue
            return "".join(key), item[i + 1:]
        key.append(item[i])
        i += 1
    return "".join(key), ""


class Inputs:
    """The decoded InputVariables of one call. Known keys are looked up
    case-insensitively (SmarterTrack does not document the comparer);
    ``cf_<name>`` items are collected into ``custom_fields``."""

    def __init__(self, items):
        self.pairs = [decode_item(item) for item in items or () if item is not None]
        self._by_key = {key.lower(): value for key, value in self.pairs}
        self.custom_fields = {key[3:]: value for key, value in self.pairs if key.lower().startswith("cf_")}

    def get(self, key: str, default: str = "") -> str:
        return self._by_key.get(key.lower(), default)


# ---------------------------------------------------------------- passwords

# scrypt with the parameters stored in the hash, so they can be raised later
# without invalidating existing users: scrypt$<n>$<r>$<p>$<salt>$<hash>.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2 ** 26, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    return "scrypt$%d$%d$%d$%s$%s" % (SCRYPT_N, SCRYPT_R, SCRYPT_P, b64(salt), b64(digest))


def parse_password_hash(text: str) -> tuple:
    """(n, r, p, salt, digest); ValueError if ``text`` is not our format."""
    parts = text.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$n$r$p$salt$hash password hash (use --hash-password)")
    n, r, p = (int(part) for part in parts[1:4])
    return n, r, p, base64.b64decode(parts[4]), base64.b64decode(parts[5])


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = parse_password_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


# A hash no password matches, checked for unknown user names so that they
# take as long as known ones (no user-name probing by timing).
_NO_USER_HASH = hash_password(secrets.token_urlsafe(16))


# ---------------------------------------------------------------- configuration


@dataclass
class User:
    name: str
    password_hash: str
    email: str
    display_name: str
    facts: dict  # every other key of the user's section, for GetUserInformation


FIELD_ACTIONS = ("show", "hide", "require", "optional", "options", "lookup")


@dataclass
class FieldRule:
    """One line of [custom fields] rules: department | action | field [| options]."""

    department: str  # "*" = every department
    action: str  # show, hide, require, optional, options, lookup
    field: str
    options: list = field(default_factory=list)


@dataclass
class Settings:
    auth_password: str
    namespace: str = "http://tempuri.org/"
    events_log: Path = Path("events.log")
    users: dict = field(default_factory=dict)  # lower-case name -> User
    blocked_domains: frozenset = frozenset()
    blocked_message: str = "We cannot accept requests from your address."
    escalation_keywords: tuple = ()
    escalation_department: str = "Escalations"
    ticket_fields: dict = field(default_factory=dict)  # custom field -> user fact
    field_rules: list = field(default_factory=list)
    chat_closed_departments: frozenset = frozenset()
    chat_closed_message: str = "Live chat is not available for this department; please open a ticket."
    registration_domains: frozenset = frozenset()  # empty: any domain
    registration_message: str = "Registration is open to customers only."


class ConfigError(Exception):
    pass


def _list(text: str, separator: str = ",") -> list:
    return [item.strip() for item in text.split(separator) if item.strip()]


def _lines(text: str) -> list:
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_settings(path: Path) -> Settings:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keep the case of fact and field names
    if not parser.read(path, encoding="utf-8"):
        raise ConfigError("cannot read %s" % path)
    section = lambda name: parser[name] if parser.has_section(name) else {}  # noqa: E731

    provider = section("provider")
    if not provider.get("auth_password"):
        raise ConfigError("[provider] auth_password is required (the Web Service Password)")
    settings = Settings(auth_password=provider["auth_password"])
    settings.namespace = provider.get("namespace", settings.namespace)
    settings.events_log = path.parent / provider.get("events_log", "events.log")

    tickets = section("tickets")
    settings.blocked_domains = frozenset(d.lower() for d in _list(tickets.get("blocked_sender_domains", "")))
    settings.blocked_message = tickets.get("blocked_message", settings.blocked_message)
    settings.escalation_keywords = tuple(k.lower() for k in _list(tickets.get("escalation_keywords", "")))
    settings.escalation_department = tickets.get("escalation_department", settings.escalation_department)
    for line in _lines(tickets.get("fill_fields", "")):
        custom_field, _, fact = (part.strip() for part in line.partition("|"))
        settings.ticket_fields[custom_field] = fact or custom_field

    for line in _lines(section("custom fields").get("rules", "")):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) < 3 or parts[1] not in FIELD_ACTIONS:
            raise ConfigError("[custom fields] rule %r: want department | show/hide/require/optional/options/lookup "
                              "| field [| option, option...]" % line)
        settings.field_rules.append(FieldRule(parts[0], parts[1], parts[2], _list(parts[3]) if len(parts) > 3 else []))

    chats = section("chats")
    settings.chat_closed_departments = frozenset(d.lower() for d in _list(chats.get("closed_departments", "")))
    settings.chat_closed_message = chats.get("closed_message", settings.chat_closed_message)

    registration = section("registration")
    settings.registration_domains = frozenset(d.lower() for d in _list(registration.get("allowed_domains", "")))
    settings.registration_message = registration.get("refused_message", settings.registration_message)

    for name in parser.sections():
        if not name.startswith("user "):
            continue
        values = dict(parser[name])
        user_name = name[len("user "):].strip()
        try:
            parse_password_hash(values.get("password_hash", ""))
        except ValueError as error:
            raise ConfigError("[%s] password_hash: %s" % (name, error)) from None
        user = User(user_name, values.pop("password_hash"), values.pop("email", ""),
                    values.pop("display_name", user_name), values)
        settings.users[user_name.lower()] = user
    return settings


# ---------------------------------------------------------------- the providers

# Method name -> the type name prefix SmarterTrack's connector uses
# (External<X>ProviderInputs / External<X>ProviderResult), so a .NET proxy
# made from this WSDL has the classes a SmarterTrack customer knows.
METHODS = {
    "Authenticate": "Login",
    "GetSignInCookieInfo": "Login",
    "Register": "Registration",
    "GetCustomFieldOptions": "CustomField",
    "StartTicket": "Ticket",
    "StartChat": "Chat",
    "GetUserInformation": "UserInfo",
    "RecordEvent": "Event",
}


@dataclass
class Reply:
    """What a method answers: Success, Message, OutputVariables (as pairs)
    and, for GetCustomFieldOptions, CustomFieldDataItems."""

    success: bool = True
    message: str = ""
    outputs: list = field(default_factory=list)  # [(key, value), ...]
    field_items: list = field(default_factory=list)  # [dict of ExternalCustomFieldData fields]


class Refused(Exception):
    """Success=false: a wrong authPW or a missing input (not a business decision)."""


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


class ProviderBase:
    """What the SOAP service needs of a provider: its Web Service Password,
    XML namespace, the methods it publishes (a subset of METHODS, each a
    Python method of the same name taking ``Inputs`` and returning a
    ``Reply`` or raising ``Refused``) and a one-line summary for the start
    message. No SOAP here."""

    methods: tuple = tuple(METHODS)

    def __init__(self, auth_password: str, namespace: str = "http://tempuri.org/"):
        self.auth_password = auth_password
        self.namespace = namespace

    def summary(self) -> str:
        return ""

    def call(self, method: str, inputs: Inputs) -> Reply:
        try:
            if not hmac.compare_digest(inputs.get("authPW").encode("utf-8"), self.auth_password.encode("utf-8")):
                raise Refused("Permission Denied")
            reply = getattr(self, method)(inputs)
        except Refused as refusal:
            reply = Reply(success=False, message=str(refusal))
        # One line per call; outputs only (inputs may hold passwords).
        LOG.info("%s: Success=%s %s %s", method, reply.success,
                 " ".join(encode_item(k, v) for k, v in reply.outputs), reply.message)
        return reply

    @staticmethod
    def _require(inputs: Inputs, *keys: str) -> list:
        missing = [key for key in keys if not inputs.get(key)]
        if missing:
            raise Refused("Missing input: %s" % ", ".join(missing))
        return [inputs.get(key) for key in keys]


class Provider(ProviderBase):
    """The rules of every method, from provider.ini."""

    def __init__(self, settings: Settings):
        super().__init__(settings.auth_password, settings.namespace)
        self.settings = settings
        self._events_lock = threading.Lock()
        self._event_ids = self._recorded_event_ids()

    def summary(self) -> str:
        return "%d users" % len(self.settings.users)

    def _user(self, name: str = "", email: str = "") -> User | None:
        """The user named ``name``, else the one with address ``email``."""
        if name and name.lower() in self.settings.users:
            return self.settings.users[name.lower()]
        if email:
            return next((u for u in self.settings.users.values() if u.email.lower() == email.lower()), None)
        return None

    @staticmethod
    def _login_reply(user: User | None) -> Reply:
        if user is None:
            return Reply(outputs=[("Authentication", "FAIL")])
        return Reply(outputs=[("Authentication", "OK"), ("EmailAddress", user.email),
                              ("DisplayName", user.display_name)])

    # -- login

    def Authenticate(self, inputs: Inputs) -> Reply:
        name, password = self._require(inputs, "loginUsername", "loginPassword")
        user = self._user(name)
        # Hash even for unknown names: the answer takes as long either way.
        matches = verify_password(password, user.password_hash if user else _NO_USER_HASH)
        return self._login_reply(user if matches else None)

    def GetSignInCookieInfo(self, inputs: Inputs) -> Reply:
        (name,) = self._require(inputs, "loginUsername")
        return self._login_reply(self._user(name))

    # -- registration (stws's definition; see README)

    def Register(self, inputs: Inputs) -> Reply:
        name, email = self._require(inputs, "loginUsername", "emailAddress")
        allowed = self.settings.registration_domains
        if _domain(email) in self.settings.blocked_domains or (allowed and _domain(email) not in allowed):
            return Reply(message=self.settings.registration_message, outputs=[("Registration", "REFUSED")])
        outputs = [("Registration", "OK")]
        known = self._user(name, email)
        if known is not None:  # a customer we know: store the name we have for them
            outputs.append(("DisplayName", known.display_name))
        return Reply(outputs=outputs)

    # -- custom fields

    def GetCustomFieldOptions(self, inputs: Inputs) -> Reply:
        (department,) = self._require(inputs, "departmentName")
        user = self._user(inputs.get("loginUsername"))
        items = {}  # field name -> ExternalCustomFieldData, in the order rules name them
        for rule in self.settings.field_rules:
            if rule.department != "*" and rule.department.lower() != department.lower():
                continue
            item = items.setdefault(rule.field, dict(
                CustomFieldName=rule.field, ChangeVisible=False, NewVisibleValue=False, ChangeRequired=False,
                NewRequiredValue=False, ChangeListOptions=False, ListOptions=None,
                DisplayWithInformationLookup=False))
            if rule.action in ("show", "hide"):
                item.update(ChangeVisible=True, NewVisibleValue=rule.action == "show")
            elif rule.action in ("require", "optional"):
                item.update(ChangeRequired=True, NewRequiredValue=rule.action == "require")
            elif rule.action == "options":
                item.update(ChangeListOptions=True, ListOptions=rule.options)
            else:  # lookup: the form asks again when this field's value changes
                item.update(DisplayWithInformationLookup=True)
        blocked = user is not None and _domain(user.email) in self.settings.blocked_domains
        chats_closed = department.lower() in self.settings.chat_closed_departments
        message = self.settings.blocked_message if blocked else (
            self.settings.chat_closed_message if chats_closed else "")
        return Reply(message=message, field_items=list(items.values()), outputs=[
            ("CanStartTickets", "false" if blocked else "true"),
            ("CanStartChats", "false" if blocked or chats_closed else "true")])

    # -- tickets and chats

    def _sender(self, inputs: Inputs) -> tuple[User | None, str]:
        """The customer (if known) and address of a ticket or chat; one of
        loginUsername (web) or emailFrom (email) is required."""
        name, email = inputs.get("loginUsername"), inputs.get("emailFrom")
        if not name and not email:
            raise Refused("Missing input: loginUsername or emailFrom")
        user = self._user(name, email)
        return user, email or (user.email if user else "")

    def _filled_fields(self, user: User | None) -> list:
        """cf_<field>=<fact> for the [tickets] fill_fields the customer has."""
        if user is None:
            return []
        return [("cf_" + custom_field, user.facts[fact])
                for custom_field, fact in self.settings.ticket_fields.items() if fact in user.facts]

    def StartTicket(self, inputs: Inputs) -> Reply:
        self._require(inputs, "departmentName")
        user, email = self._sender(inputs)
        if _domain(email) in self.settings.blocked_domains:
            return Reply(message=self.settings.blocked_message, outputs=[("TicketCreation", "FALSE")])
        outputs = [("TicketCreation", "TRUE")] + self._filled_fields(user)
        words = set(re.findall(r"\w+", inputs.get("subject").lower()))
        if words.intersection(self.settings.escalation_keywords):
            outputs.append(("departmentName", self.settings.escalation_department))
        return Reply(outputs=outputs)

    def StartChat(self, inputs: Inputs) -> Reply:
        (department,) = self._require(inputs, "departmentName")
        user, email = self._sender(inputs)
        if _domain(email) in self.settings.blocked_domains:
            return Reply(message=self.settings.blocked_message, outputs=[("ChatCreation", "FALSE")])
        if department.lower() in self.settings.chat_closed_departments:
            return Reply(message=self.settings.chat_closed_message, outputs=[("ChatCreation", "FALSE")])
        return Reply(outputs=[("ChatCreation", "TRUE")] + self._filled_fields(user))

    # -- user information (stws's definition; see README)

    def GetUserInformation(self, inputs: Inputs) -> Reply:
        name, email = inputs.get("loginUsername"), inputs.get("emailAddress")
        if not name and not email:
            raise Refused("Missing input: loginUsername or emailAddress")
        user = self._user(name, email)
        if user is None:
            return Reply(message="No information about this customer.")
        return Reply(outputs=[("DisplayName", user.display_name), ("EmailAddress", user.email)]
                     + list(user.facts.items()))

    # -- events (stws's definition; see README)

    def _recorded_event_ids(self) -> set:
        ids = set()
        if self.settings.events_log.exists():
            with open(self.settings.events_log, encoding="utf-8") as log:
                for line in log:
                    try:
                        ids.add(json.loads(line)["eventId"])
                    except (ValueError, KeyError, TypeError):
                        LOG.warning("events log: skipped an unreadable line")
        return ids

    def RecordEvent(self, inputs: Inputs) -> Reply:
        event_id, event_type = self._require(inputs, "eventId", "eventType")
        # stws delivers at least once: a repeated eventId is acknowledged
        # (Success=true) but written only the first time.
        with self._events_lock:
            if event_id in self._event_ids:
                return Reply(outputs=[("Recorded", "DUPLICATE")])
            known = ("authpw", "eventid", "eventtype", "ticketnumber", "occurredutc")
            record = {"eventId": event_id, "eventType": event_type, "ticketNumber": inputs.get("ticketNumber"),
                      "occurredUtc": inputs.get("occurredUtc"),
                      "details": {k: v for k, v in inputs.pairs if k.lower() not in known}}
            with open(self.settings.events_log, "a", encoding="utf-8") as log:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._event_ids.add(event_id)
        return Reply(outputs=[("Recorded", "NEW")])


# ---------------------------------------------------------------- SOAP (spyne)

SERVICE_NAME = "ExternalProvider"
_W = "{http://schemas.xmlsoap.org/wsdl/}"
_S11 = "{http://schemas.xmlsoap.org/wsdl/soap/}"


def build_wsgi_app(provider: ProviderBase, public_url: str):
    """The WSGI application of ``provider``'s service (its ``methods``), the
    WSDL built for ``public_url``."""
    from spyne import Application, Array, Boolean, ComplexModel, ServiceBase, Unicode, rpc
    from spyne.protocol.soap import Soap11
    from spyne.server.wsgi import WsgiApplication

    tns = provider.namespace
    methods = {name: METHODS[name] for name in provider.methods}
    # XmlSerializer shapes: strings and arrays optional (null = omitted),
    # bools required and never nil (else .NET proxies get bool? + ...Specified).
    String = Unicode(min_occurs=0, nillable=False)
    Bool = Boolean(min_occurs=1, nillable=False)

    def model(name, fields):
        return type(name, (ComplexModel,), {"__namespace__": tns, "__type_name__": name, "_type_info": fields})

    def array_of(item, name):
        array = Array(item, type_name=name).customize(min_occurs=0, nillable=False)
        array.__namespace__ = tns
        return array

    ArrayOfString = array_of(Unicode(nillable=True), "ArrayOfString")
    FieldData = model("ExternalCustomFieldData", [
        ("CustomFieldName", String), ("ChangeVisible", Bool), ("NewVisibleValue", Bool),
        ("ChangeRequired", Bool), ("NewRequiredValue", Bool), ("ChangeListOptions", Bool),
        ("ListOptions", ArrayOfString), ("DisplayWithInformationLookup", Bool)])
    result_fields = [("Success", Bool), ("Message", String), ("OutputVariables", ArrayOfString)]

    types = {}  # kind -> (inputs type, result type)
    for kind in dict.fromkeys(methods.values()):
        extra = [("CustomFieldDataItems", array_of(FieldData, "ArrayOfExternalCustomFieldData"))] \
            if kind == "CustomField" else []
        types[kind] = (model("External%sProviderInputs" % kind, [("InputVariables", ArrayOfString)]),
                       model("External%sProviderResult" % kind, result_fields + extra))

    def operation(name, kind):
        inputs_type, result_type = types[kind]

        def method(ctx, inputs):
            reply = provider.call(name, Inputs(inputs.InputVariables if inputs is not None else ()))
            result = result_type(Success=reply.success, Message=reply.message or None,
                                 OutputVariables=[encode_item(k, v) for k, v in reply.outputs])
            if kind == "CustomField":
                result.CustomFieldDataItems = [FieldData(**item) for item in reply.field_items]
            return result
        # spyne names the operation after the function and its one
        # parameter after the argument: <Name><inputs>...</inputs></Name>.
        method.__name__ = method.__qualname__ = name
        # minOccurs=0, not nillable: how ASMX declares a class parameter and result.
        optional = dict(min_occurs=0, nillable=False)
        return rpc(inputs_type.customize(**optional), _returns=result_type.customize(**optional))(method)

    service = type(SERVICE_NAME, (ServiceBase,), {name: operation(name, kind) for name, kind in methods.items()})
    application = Application([service], tns=tns, name=SERVICE_NAME,
                              in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    application.interface.docs.wsdl11.event_manager.add_listener("wsdl_document_built", _asmx_wsdl(tns))
    wsgi_app = WsgiApplication(application, max_content_length=1 << 20)
    # Built once, now, with the public URL (else spyne uses the first
    # caller's Host), and after the WsgiApplication exists (else the binding
    # names no HTTP transport).
    wsgi_app.doc.wsdl11.build_interface_document(public_url)
    return _with_index_page(wsgi_app, public_url, methods)


def _with_index_page(wsgi_app, public_url: str, methods):
    """A plain GET (an administrator's browser) gets a short page listing the
    methods, as an .asmx does, instead of spyne's "method not allowed" fault."""
    page = ("<!DOCTYPE html><title>%s</title><h1>%s</h1><p>SOAP 1.1 service: <a href='%s?WSDL'>WSDL</a>.</p>"
            "<ul>%s</ul>" % (SERVICE_NAME, SERVICE_NAME, public_url,
                             "".join("<li>%s</li>" % name for name in methods))).encode("utf-8")

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD") and not environ.get("QUERY_STRING"):
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Length", str(len(page)))])
            return [page]
        return wsgi_app(environ, start_response)
    return app


def _asmx_wsdl(tns: str):
    """Reshape spyne's WSDL as ASP.NET writes it: message parts named
    ``parameters`` (.NET's importers need that for wrapped signatures),
    SOAPAction = namespace + method, binding and port ``<Service>Soap``."""
    def reshape(wsdl):
        root = wsdl.root_elt
        for part in root.iter(_W + "part"):
            part.set("name", "parameters")
        for port_type in root.iter(_W + "portType"):
            port_type.set("name", SERVICE_NAME + "Soap")
            for op in port_type.iter(_W + "operation"):
                op.attrib.pop("parameterOrder", None)
        binding = root.find(_W + "binding")
        binding.set("name", SERVICE_NAME + "Soap")
        binding.set("type", "tns:%sSoap" % SERVICE_NAME)
        separator = "" if tns.endswith("/") else "/"
        for op in binding.iter(_S11 + "operation"):
            op.set("soapAction", tns + separator + op.get("soapAction"))
        port = root.find(_W + "service").find(_W + "port")
        port.set("name", SERVICE_NAME + "Soap")
        port.set("binding", "tns:%sSoap" % SERVICE_NAME)
    return reshape


# ---------------------------------------------------------------- server


def serve(provider: ProviderBase, host: str, port: int, public_url: str | None) -> None:
    """Serve ``provider`` at http://host:port/provider.asmx until stopped."""
    from twisted.internet import reactor
    from twisted.python.threadpool import ThreadPool
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    # spyne logs whole invalid requests and every client fault with a traceback.
    for noisy in ("spyne.protocol.soap.soap11.invalid", "spyne.application", "spyne.protocol.xml"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    root = Resource()
    listening = reactor.listenTCP(port, Site(root), interface=host)
    # With port 0 the address is known only now, and the WSDL needs it.
    url = public_url or "http://%s:%d/provider.asmx" % (host, listening.getHost().port)
    pool = ThreadPool(minthreads=1, maxthreads=8, name="provider")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    root.putChild(b"provider.asmx", WSGIResource(reactor, pool, build_wsgi_app(provider, url)))
    summary = provider.summary()
    print("provider: serving %s (WSDL: %s?WSDL)%s" % (url, url, ", " + summary if summary else ""), flush=True)
    reactor.run()


def add_server_arguments(parser: argparse.ArgumentParser, listen: str = "127.0.0.1:8800") -> None:
    """--listen (default ``listen``) and --public-url, for ``serve_from_arguments``."""
    parser.add_argument("--listen", default=listen, help="host:port (port 0: any free port; default %(default)s)")
    parser.add_argument("--public-url", help="the URL clients use, if not http://<listen>/provider.asmx")


def start_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def serve_from_arguments(provider: ProviderBase, args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")
    serve(provider, host or "127.0.0.1", int(port), args.public_url)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="the provider's config file (see provider.ini)")
    add_server_arguments(parser)
    parser.add_argument("--hash-password", action="store_true",
                        help="read a password (prompt, or stdin when piped) and print its password_hash line")
    args = parser.parse_args(argv)
    if args.hash_password:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not password:
            parser.error("empty password")
        print("password_hash = %s" % hash_password(password))
        return 0
    if args.config is None:
        parser.error("--config is required")
    start_logging()
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print("provider: %s: %s" % (args.config, error), file=sys.stderr)
        return 2
    serve_from_arguments(Provider(settings), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
