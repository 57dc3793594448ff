"""Settings > Tools > Diagnostics: Options, Current Thread Status (with the
events provider's outbox, which the Event Processing thread delivers) and
Log Files, and the Self Diagnostic pop-up, through stws.operations.diagnostics
and stws.operations.providers."""
from __future__ import annotations

from dataclasses import fields

from stws.diagnostics.options import DiagnosticOptions
from stws.errors import OperationError
from stws.domain.properties import InvalidProperties
from stws.operations import diagnostics, providers
from stws.web.admin import Page, route

BASE = "/settings/diagnostics"
# A page of a log file in its pop-up.
LOG_PAGE_BYTES = 64 * 1024

# (key, label, help) of the Options tab, in the spec's order.
OPTION_FIELDS = (
    ("HeartbeatIntervalSeconds", "Heartbeat Interval (seconds)",
     "Time between the browser's refreshes of tree view counts, reminder pop-ups and other automatic functions."),
    ("WhosOnIntervalSeconds", "Who's On Interval (seconds)",
     "Time between refreshes of the visitor information shown in Who's On. Nothing uses it until live chat "
     "arrives in stws."),
    ("DeleteLogFilesAfterDays", "Delete Log Files After (days)", "Log files older than this are deleted."),
    ("EmailAddressToReceiveErrors", "Email Address to Receive Errors",
     "When set, errors written to the error log are emailed to this address."),
    ("EnableShortQueryLogging", "Enable short query logging", "A short log of every query. Slows the server."),
    ("EnableFullQueryLogging", "Enable full query logging", "A detailed log of every query. Slows the server."),
    ("EnableLockTracing", "Enable lock tracing", "Logs every system-level lock. Slows the server."),
    ("EnableCacheTracing", "Enable cache tracing", "Logs what is cached in server memory. Slows the server."),
    ("ConnectivityProbeAddress", "Self-diagnostic connectivity probe (host:port)",
     "The address the Self Diagnostic connects to, to check internet connectivity."),
)
BOOLEAN_OPTIONS = {f.name for f in fields(DiagnosticOptions) if f.type in (bool, "bool")}
DEFAULTS = {f.name: ("on" if f.default else "off") if f.name in BOOLEAN_OPTIONS else (f.default or "none")
            for f in fields(DiagnosticOptions)}


def _tab(page: Page, tab: str, status: int = 200, **context):
    page.section = "diagnostics"
    statuses = page.run(diagnostics.thread_statuses)
    files = page.run(diagnostics.log_files)
    if tab == "threads":
        context["outbox"] = page.run(providers.events_outbox_status)
    if tab == "options" and "options" not in context:
        context["options"] = {key: getattr(page.run(diagnostics.diagnostic_options), key)
                              for key, _, _ in OPTION_FIELDS}
    return page.render("admin/diagnostics.html", status=status, title="Diagnostics", tab=tab,
                       statuses=statuses, files=files, option_fields=OPTION_FIELDS, booleans=BOOLEAN_OPTIONS,
                       defaults=DEFAULTS,
                       problems=context.pop("problems", {}), **context)


@route("GET", BASE)
def diagnostics_page(page: Page):
    tab = page.request.arg("tab", "options")
    return _tab(page, tab if tab in ("options", "threads", "logs") else "options")


@route("POST", BASE + "/options")
def save_options(page: Page):
    form = page.request
    entered = {}
    for key, _, _ in OPTION_FIELDS:
        if key in BOOLEAN_OPTIONS:
            entered[key] = form.field(key) == "on"
        else:
            entered[key] = form.field(key).strip()
    items = ["%s=%s" % (key, ("true" if value else "false") if isinstance(value, bool) else value)
             for key, value in entered.items()]
    try:
        changed = page.run(diagnostics.set_diagnostic_options, items)
    except InvalidProperties as failure:
        return _tab(page, "options", status=400, options=entered, problems=failure.by_key,
                    form_error=failure.message)
    return page.done(page.url(BASE, tab="options"), "Saved: %s." % ", ".join(changed))


@route("GET", BASE + "/self-diagnostic")
def self_diagnostic(page: Page):
    page.section = "diagnostics"
    checks = page.run(diagnostics.self_diagnostic)
    return page.render("admin/self_diagnostic.html", title="Self Diagnostic", checks=checks)


@route("POST", BASE + "/threads")
def switch_thread(page: Page):
    name = page.request.field("name")
    operation = diagnostics.start_thread if page.request.field("action") == "start" else diagnostics.stop_thread
    return page.act(page.url(BASE, tab="threads"), lambda message: message, operation, name)


@route("GET", BASE + "/log")
def log_file(page: Page):
    page.section = "diagnostics"
    name = page.request.arg("name")
    try:
        offset = max(0, int(page.request.arg("offset", "0")))
    except ValueError:
        offset = 0
    content = page.run(diagnostics.read_log_file, name, offset, LOG_PAGE_BYTES)
    return page.render("admin/log_file.html", title=name, name=name, offset=offset, content=content)


@route("POST", BASE + "/logs/delete")
def delete_logs(page: Page):
    back = page.url(BASE, tab="logs")
    names = page.request.fields("file")
    if not names:
        return page.done(back, "Select the log files to delete first.", error=True)
    try:
        deleted = page.run(diagnostics.delete_log_files, names)
    except OperationError as failure:
        return page.failed(back, failure)
    return page.done(back, "Deleted %d log file%s." % (len(deleted), "" if len(deleted) == 1 else "s"))
