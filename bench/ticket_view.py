"""Server time of a ticket's page in the agents' workspace
(``/admin/tickets/view``) for a ticket with 100 messages, against the bare
layout, on a seeded database.

    .venv/bin/python bench/ticket_view.py [--tickets 20000] [--messages 100] [--requests 200] [--warmup 20]
                                          [--postgresql URL] [--no-sqlite] [--seeded URL]

Seeds ``--tickets`` tickets (bench/seed_tickets.py), then gives one open
ticket ``--messages`` messages in all (half HTML mails of about 2 KB with a
table, links and a remote image, half plain text), ten notes, five
attachments and the history events those make, written straight into the
database. Starts one server process on it (``_server.StwsServer`` with the
bench extras), signs in as ``admin`` and requests each page ``--requests``
times over one keep-alive connection, as bench/admin_pages.py does (one
request in flight: the latency is the server's time for the page):

  base  /admin/bench/layout: the layout, no operation run             the baseline
  v1    the ticket, Conversation tab (100 messages sanitised)       target p95 < 50 ms
  v2    the ticket, History tab                                       target p95 < 50 ms
  v3    the ticket, Communication tab (the customer's other tickets) target p95 < 50 ms
  v4    a ticket with its first message only                          for comparison

Also printed: what sanitising the ticket's HTML bodies costs in this
process (stws.web.sanitize, nh3), the share of v1 it accounts for.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sqlalchemy import create_engine, func, insert, select, update  # noqa: E402

import seed_tickets  # noqa: E402
from _backends import add_backend_options, each_backend  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer, ensure_admin_password  # noqa: E402
from admin_pages import TARGET_P95_MS, Browserless, measure  # noqa: E402
from stws.db.models import (  # noqa: E402
    Ticket, TicketAttachment, TicketComment, TicketEvent, TicketMessage, User,
)

HTML_BODY = """<html><body><p>Hello support,</p>
<p>Our order <b>#%(n)d</b> arrived without the power supply. Details:</p>
<table border="1"><tr><th>Item</th><th>Qty</th><th>Price</th></tr>
<tr><td>Printer X200</td><td>1</td><td>$249.00</td></tr><tr><td>Power supply</td><td>1</td><td>$19.00</td></tr></table>
<p>See <a href="https://shop.example.com/orders/%(n)d">the order page</a> and our
<a href="mailto:buyer@example.com">buyer</a>.</p>
<img src="https://tracker.example.com/open/%(n)d.gif" width="1" height="1">
<div style="color: red" onclick="steal()">Kind regards,<br>Carol<br><i>Purchasing</i></div>
<blockquote>On Monday you wrote:<br>%(quote)s</blockquote>
</body></html>"""
TEXT_BODY = ("Hi Carol,\n\nthank you for the details on order %(n)d. The power supply ships today; you get a "
             "tracking number by mail.\n\n" + "This line stands for the rest of a longer reply. " * 10 +
             "\n\nRegards,\nSupport")


def thicken(database_url: str, ticket_id: int, messages: int) -> None:
    """Give the ticket ``messages`` messages, ten notes, five attachments and their events."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        ticket = connection.execute(select(Ticket).where(Ticket.id == ticket_id)).one()
        agent = connection.execute(select(User.id, User.username).where(User.id == ticket.agent_id)).one()
        start = ticket.date_opened_utc
        rows, events = [], []
        for n in range(1, messages):
            when = start + dt.timedelta(minutes=10 * n)
            incoming = n % 2 == 0
            body = {"n": n, "quote": "Earlier text of the thread. " * 8}
            rows.append(dict(
                ticket_id=ticket_id, direction=2 if incoming else 1,
                from_user_id=ticket.customer_id if incoming else agent.id,
                from_address=ticket.customer_email if incoming else "support@example.com",
                to_address="support@example.com" if incoming else ticket.customer_email, cc_address="",
                subject="Re: %s" % ticket.subject, body_text="" if incoming else TEXT_BODY % body,
                body_html=HTML_BODY % body if incoming else "", date_received_utc=when))
            events.append(dict(ticket_id=ticket_id, date_utc=when, user_id=None if incoming else agent.id,
                               user_name="system" if incoming else agent.username,
                               event_type="MessageReceived" if incoming else "MessageSent",
                               description="Message received" if incoming else "Reply sent", details=""))
        connection.execute(insert(TicketMessage), rows)
        notes = [dict(ticket_id=ticket_id, comment_type_id=1, user_id=agent.id, text="Internal note %d." % n,
                      date_entered_utc=start + dt.timedelta(minutes=10 * n * messages // 10 + 5)) for n in range(10)]
        connection.execute(insert(TicketComment), notes)
        connection.execute(insert(TicketEvent), events)
        first = connection.execute(select(TicketMessage.id).where(TicketMessage.ticket_id == ticket_id)
                                   .order_by(TicketMessage.id).limit(5)).scalars().all()
        connection.execute(insert(TicketAttachment), [
            dict(ticket_id=ticket_id, message_id=message_id, user_id=ticket.customer_id,
                 file_name_original="photo-%d.jpg" % message_id, file_name_on_disk="00/bench-%d.bin" % message_id,
                 expected_length=120_000, length=120_000, sha256="0" * 64) for message_id in first])
        connection.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            reply_count_in=messages // 2, reply_count_out=messages - messages // 2))
    engine.dispose()


def pick_tickets(database_url: str) -> tuple[str, int, str]:
    """(number, id) of an open ticket of a customer with many tickets, and another ticket's number."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        busy = connection.execute(
            select(Ticket.ticket_number, Ticket.id).where(Ticket.status_id == 1, Ticket.customer_id.is_not(None),
                                                          Ticket.is_deleted.is_(False))
            .order_by(Ticket.id).limit(1)).one()
        other = connection.execute(select(Ticket.ticket_number).where(Ticket.id != busy.id, Ticket.status_id == 1,
                                                                      Ticket.is_deleted.is_(False))
                                   .order_by(Ticket.id.desc()).limit(1)).scalar_one()
    engine.dispose()
    return busy.ticket_number, busy.id, other


def sanitise_ms(database_url: str, ticket_id: int, rounds: int = 20) -> tuple[float, int]:
    from stws.web import sanitize

    engine = create_engine(database_url)
    with engine.connect() as connection:
        bodies = connection.execute(select(TicketMessage.body_html).where(
            TicketMessage.ticket_id == ticket_id, TicketMessage.body_html != "")).scalars().all()
    engine.dispose()
    started = time.perf_counter()
    for _ in range(rounds):
        for body in bodies:
            sanitize.clean(body)
    return (time.perf_counter() - started) / rounds * 1000, len(bodies)


def bench(backend: str, database_url: str, args) -> None:
    if args.seeded:
        ensure_admin_password(database_url)
        engine = create_engine(database_url)
        with engine.connect() as connection:
            tickets = connection.scalar(select(func.count()).select_from(Ticket))
        engine.dispose()
        print("\n== %s: %s tickets seeded before, one given %d messages" % (backend, "{:,}".format(tickets),
                                                                          args.messages))
    else:
        print("\n== %s: %s tickets, one with %d messages" % (backend, "{:,}".format(args.tickets), args.messages))
        seeded = seed_tickets.seed(database_url, tickets=args.tickets, admin_password=ADMIN_PASSWORD,
                                   progress=None, full_text_index=False)
        print("seeded in %.1f s" % seeded.seconds)
    number, ticket_id, other = pick_tickets(database_url)
    thicken(database_url, ticket_id, args.messages)
    with StwsServer(extras=True, database=database_url) as server:
        client = Browserless(server.port)
        client.sign_in(ADMIN_USER, ADMIN_PASSWORD)
        view = "/admin/tickets/view?number=" + number
        pages = [
            ("base", "/admin/bench/layout"),
            ("v1", view),
            ("v2", view + "&tab=history"),
            ("v3", view + "&tab=communication"),
            ("v4", "/admin/tickets/view?number=" + other),
        ]
        _, body, _ = client.request("GET", view)
        shown = body.count(b'<article class="entry')
        print("ticket %s: %d entries shown, page %s bytes" % (number, shown, "{:,}".format(len(body))))
        if shown < args.messages:
            raise SystemExit("the page shows %d entries, not the %d seeded" % (shown, args.messages))
        results = {}
        print("%-5s %-62s %9s %9s %10s %8s" % ("", "page", "p50 ms", "p95 ms", "CPU ms/r", "p95/base"))
        for tag, path in pages:
            results[tag] = measure(client, server, path, args.requests, args.warmup)
            figures = results[tag]
            print("%-5s %-62s %9.2f %9.2f %10.2f %8.2f" % (tag, path[:62], figures["p50"], figures["p95"],
                                                           figures["cpu"], figures["p95"] / results["base"]["p95"]))
        cost, bodies = sanitise_ms(database_url, ticket_id)
        print("sanitising its %d HTML bodies in this process: %.2f ms (%.0f %% of v1's p50)"
              % (bodies, cost, cost / results["v1"]["p50"] * 100))
        worst = max(("v1", "v2", "v3"), key=lambda tag: results[tag]["p95"])
        verdict = "met" if results[worst]["p95"] < TARGET_P95_MS else "NOT met"
        print("target p95 < %.0f ms for the 100-message ticket's tabs: %s (slowest: %s, p95 %.2f ms)"
              % (TARGET_P95_MS, verdict, worst, results[worst]["p95"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seeded", default="", metavar="URL",
                        help="a database seed_tickets made (a copy: one ticket gets the messages) instead of seeding")
    add_backend_options(parser)
    args = parser.parse_args()
    if args.seeded:
        bench("seeded", args.seeded, args)
    else:
        each_backend(lambda backend, url: bench(backend, url, args), "ticket-view", args)


if __name__ == "__main__":
    main()
