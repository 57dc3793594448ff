"""Ticket attachments: chunked uploads, listing, and downloads over HTTP with
signed, expiring URLs."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twisted.internet import threads

from conftest import failed, strings
from stws.db.models import TicketAttachment
from stws.errors import ResultCode
from stws.domain.tickets import attachments as domain
from stws.security.principals import Principal
from stws.domain.context import Context

NOW = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone.utc)


async def new_ticket(desk, address="cust@example.com", department_id=None) -> tuple[str, int]:
    created = await desk.tickets.CreateTicketFromCustomer(*desk.admin, department_id or desk.department_id, address,
                                                          "Logs attached", "see files", False, False)
    assert created.Result, created.Message
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.admin, created.RequestResult)).Ticket
    return created.RequestResult, info.ID


async def get(desk, url: str) -> requests.Response:
    if url.startswith("/"):
        url = desk.server.base_url + url
    return await threads.deferToThread(requests.get, url, timeout=30)


def stored_files(desk) -> list[str]:
    root = desk.server.runtime.data.attachments
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def events(desk, ticket_id, kind):
    return [row.description for row in desk.sql(
        "SELECT description FROM ticket_events WHERE ticket_id = :t AND event_type = :k ORDER BY id",
        t=ticket_id, k=kind)]


async def test_single_chunk_upload_list_and_download(desk):
    number, ticket_id = await new_ticket(desk)
    payload = b"line 1\r\nline 2\x00\xff binary"
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "error log.txt", payload, len(payload),
                                                   NOW)
    assert added.Result, added.Message
    info = added.File
    assert info.fileNameOriginal == "error log.txt" and info.fileSizeInBytes == len(payload)
    assert info.ticketMessageId == 0 and info.senderUserId == desk.agent_id
    assert info.sender == "alice@helpdesk.example" and info.fileDateUtc == NOW
    assert info.fileNameOnDisk != "error log.txt" and "/" not in info.fileNameOnDisk.split("/", 1)[1]
    assert stored_files(desk) == [info.fileNameOnDisk]
    assert (desk.server.runtime.data.attachments / info.fileNameOnDisk).read_bytes() == payload
    assert info.downloadUrl.startswith("/Attachments/%d?" % info.fileId)

    (listed,) = (await desk.tickets.GetTicketAttachments(*desk.agent, ticket_id)).Files.TicketAttachmentInfo
    assert listed.fileId == info.fileId and listed.fileSizeInBytes == len(payload)

    response = await get(desk, listed.downloadUrl)
    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="error log.txt"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(payload))
    assert events(desk, ticket_id, "AttachmentAdded") == [
        "Attachment error log.txt added to the ticket (%d bytes)" % len(payload)]


async def test_two_chunk_upload_comes_back_exactly(desk):
    number, ticket_id = await new_ticket(desk)
    first, second = os.urandom(1_500_000), os.urandom(1_234_567)
    total = len(first) + len(second)
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "dump.bin", first, total, NOW)
    assert added.Result, added.Message
    attachment_id = added.File.fileId
    # Incomplete: no download URL, not listed.
    assert not added.File.downloadUrl and added.File.fileSizeInBytes == len(first)
    assert not (await desk.tickets.GetTicketAttachments(*desk.agent, ticket_id)).Files

    appended = await desk.tickets.AppendToTicketAttachment(*desk.agent, attachment_id, second)
    assert appended.Result, appended.Message
    assert "Complete" in appended.Message
    (listed,) = (await desk.tickets.GetTicketAttachments(*desk.agent, ticket_id)).Files.TicketAttachmentInfo
    assert listed.fileSizeInBytes == total
    response = await get(desk, listed.downloadUrl)
    assert response.status_code == 200 and response.content == first + second
    (digest,) = desk.sql("SELECT sha256 FROM ticket_attachments WHERE id = :i", i=attachment_id)
    assert digest[0] == hashlib.sha256(first + second).hexdigest()
    assert events(desk, ticket_id, "AttachmentCompleted") == ["Attachment dump.bin complete (%d bytes)" % total]

    # Nothing fits beyond the declared size, and nothing is written.
    assert "Nothing was written" in failed(
        await desk.tickets.AppendToTicketAttachment(*desk.agent, attachment_id, b"x"), ResultCode.TOO_LARGE)
    path = desk.server.runtime.data.attachments / listed.fileNameOnDisk
    assert path.stat().st_size == total


async def test_append_beyond_declared_length_writes_nothing(desk):
    number, _ = await new_ticket(desk)
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "a.bin", b"12345", 8, NOW)
    attachment_id = added.File.fileId
    failed(await desk.tickets.AppendToTicketAttachment(*desk.agent, attachment_id, b"6789"), ResultCode.TOO_LARGE)
    assert (desk.server.runtime.data.attachments / added.File.fileNameOnDisk).read_bytes() == b"12345"
    failed(await desk.tickets.AppendToTicketAttachment(*desk.agent, attachment_id, b""), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.AppendToTicketAttachment(*desk.agent, 424242, b"6"), ResultCode.NOT_FOUND)
    result = await desk.tickets.AppendToTicketAttachment(*desk.agent, attachment_id, b"67")
    assert result.Result and "7 of 8" in result.Message
    assert (await desk.tickets.AppendToTicketAttachment(*desk.agent, attachment_id, b"8")).Result
    assert (desk.server.runtime.data.attachments / added.File.fileNameOnDisk).read_bytes() == b"12345678"


async def test_attach_to_a_message_and_whole_file_with_zero_length(desk):
    number, ticket_id = await new_ticket(desk)
    ((message_id,),) = desk.sql("SELECT id FROM ticket_messages WHERE ticket_id = :t", t=ticket_id)
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, message_id, "screen.png", b"PNG!", 0, NOW)
    assert added.Result, added.Message
    assert added.File.ticketMessageId == message_id and added.File.fileSizeInBytes == 4 and added.File.downloadUrl
    assert events(desk, ticket_id, "AttachmentAdded") == [
        "Attachment screen.png added to message %d (4 bytes)" % message_id]
    other, other_id = await new_ticket(desk)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, other, message_id, "x.png", b"x", 1, NOW),
           ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 987654, "x.png", b"x", 1, NOW),
           ResultCode.NOT_FOUND)


async def test_file_names_are_checked_and_never_used_on_disk(desk):
    number, _ = await new_ticket(desk)
    for name in ("", "   ", "../../etc/passwd", "logs/today.txt", "C:\\temp\\x.txt", "..", "."):
        failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, name, b"x", 1, NOW),
               ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "x" * 256, b"x", 1, NOW),
           ResultCode.INVALID_ARGUMENT)
    assert stored_files(desk) == []
    unicode_name = 'Rechnung "März" ü.pdf'
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, unicode_name, b"%PDF", 4, NOW)
    assert added.Result and added.File.fileNameOriginal == unicode_name
    assert "März" not in added.File.fileNameOnDisk
    response = await get(desk, added.File.downloadUrl)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Rechnung _M_rz_ _.pdf"')
    assert "filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22%20%C3%BC.pdf" in disposition


async def test_size_limits(desk):
    number, _ = await new_ticket(desk)
    assert desk.server.runtime.config.max_attachment_size == 25 * 1024 * 1024
    desk.server.runtime.config.max_attachment_size = 1000
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "big.bin", b"x" * 10, 1001, NOW),
           ResultCode.TOO_LARGE)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "big.bin", b"x" * 1001, 0, NOW),
           ResultCode.TOO_LARGE)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "big.bin", b"x" * 11, 10, NOW),
           ResultCode.TOO_LARGE)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "big.bin", b"x", -1, NOW),
           ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "late.bin", b"x", 1,
                                                  dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)),
           ResultCode.INVALID_ARGUMENT)
    assert stored_files(desk) == []
    assert (await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "fits.bin", b"x" * 1000, 1000,
                                                   NOW)).Result


async def test_access_roles_and_locked_tickets(desk):
    number, ticket_id = await new_ticket(desk)
    # The customer may attach to their own ticket and list its attachments ...
    mine = await desk.tickets.AddTicketAttachment(*desk.customer, number, 0, "photo.jpg", b"JPEG", 8, NOW)
    assert mine.Result, mine.Message
    assert mine.File.senderUserId == desk.customer_id
    # ... but only the uploader (or a manager) may continue an upload.
    failed(await desk.tickets.AppendToTicketAttachment(*desk.agent, mine.File.fileId, b"DATA"),
           ResultCode.PERMISSION_DENIED)
    assert (await desk.tickets.AppendToTicketAttachment(*desk.admin, mine.File.fileId, b"DATA")).Result
    assert len((await desk.tickets.GetTicketAttachments(*desk.customer, ticket_id)).Files.TicketAttachmentInfo) == 1
    other, other_id = await new_ticket(desk, address="someone@example.org")
    failed(await desk.tickets.AddTicketAttachment(*desk.customer, other, 0, "x.txt", b"x", 1, NOW),
           ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketAttachments(*desk.customer, other_id), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, "001-00000000-0000", 0, "x.txt", b"x", 1, NOW),
           ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketAttachments(*desk.agent, 999999), ResultCode.NOT_FOUND)
    # A ticket of a group alice is not in.
    created = await desk.org.CreateDepartment(*desk.admin, 1, "Billing", "", "Billing L1")
    foreign, foreign_id = await new_ticket(desk, department_id=created.RequestResult)
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, foreign, 0, "x.txt", b"x", 1, NOW),
           ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketAttachments(*desk.agent, foreign_id), ResultCode.NOT_FOUND)
    # Closed and locked: no more attachments or chunks; the list stays readable.
    started = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "part.bin", b"1", 2, NOW)
    assert (await desk.tickets.SetTicketProperties(*desk.admin, number, strings("TicketStatusID=4"))).Result
    failed(await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "x.txt", b"x", 1, NOW),
           ResultCode.INVALID_STATE)
    failed(await desk.tickets.AppendToTicketAttachment(*desk.agent, started.File.fileId, b"2"),
           ResultCode.INVALID_STATE)
    assert len((await desk.tickets.GetTicketAttachments(*desk.agent, ticket_id)).Files.TicketAttachmentInfo) == 1
    failed(await desk.tickets.GetTicketAttachments(desk.agent[0], "nope", ticket_id),
           ResultCode.AUTHENTICATION_FAILED)


async def test_download_tokens(desk):
    number, ticket_id = await new_ticket(desk)
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "a.txt", b"secret", 6, NOW)
    url = added.File.downloadUrl
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    expires, token = int(query["expires"]), query["token"]
    assert abs(expires - (time.time() + 24 * 3600)) < 120
    assert (await get(desk, url)).status_code == 200

    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (
        "%s?expires=%d&token=%s" % (parts.path, expires, flipped),
        "%s?expires=%d&token=%s" % (parts.path, expires + 3600, token),  # extended expiry
        "/Attachments/%d?expires=%d&token=%s" % (added.File.fileId + 1, expires, token),  # another file
        "%s?expires=%d" % (parts.path, expires),
        "%s?expires=soon&token=%s" % (parts.path, token),
        parts.path,
    ):
        response = await get(desk, bad)
        assert response.status_code == 403, bad
        assert b"secret" not in response.content
    root = desk.server.runtime.data.root
    expired = domain.download_url(root, added.File.fileId, now=time.time() - 25 * 3600)
    assert (await get(desk, expired)).status_code == 403
    # Valid signatures for what is not (or no longer) there: 404.
    assert (await get(desk, domain.download_url(root, 9999))).status_code == 404
    assert (await get(desk, "/Attachments/abc?expires=1&token=x")).status_code == 404
    with desk.server.runtime.db.transaction() as session:
        session.get(domain.Ticket, ticket_id).is_deleted = True
    assert (await get(desk, url)).status_code == 404


async def test_a_missing_file_is_not_served_as_empty(desk):
    number, _ = await new_ticket(desk)
    added = await desk.tickets.AddTicketAttachment(*desk.agent, number, 0, "gone.txt", b"data", 4, NOW)
    (desk.server.runtime.data.attachments / added.File.fileNameOnDisk).unlink()
    assert (await get(desk, added.File.downloadUrl)).status_code == 404


# ------------------------------------------------ file and row stay consistent


def _call(session, runtime, user_id, username):
    return Context.in_session(session, Principal(user_id, username, frozenset({"Everyone", "Agent", "Manager", "Administrator"})),
                runtime)


class Boom(Exception):
    pass


async def test_rolled_back_upload_leaves_no_file_and_rolled_back_append_is_undone(desk):
    number, ticket_id = await new_ticket(desk)
    runtime = desk.server.runtime

    def add_then_fail():
        with runtime.db.transaction() as session:
            call = _call(session, runtime, 1, "admin")
            ticket = session.get(domain.Ticket, ticket_id)
            domain.add_attachment(call, ticket, 0, "x.bin", b"abc", 3, None)
            assert len(stored_files(desk)) == 1
            raise Boom()

    with pytest.raises(Boom):
        await threads.deferToThread(add_then_fail)
    assert stored_files(desk) == []
    assert desk.sql("SELECT id FROM ticket_attachments") == []

    added = await desk.tickets.AddTicketAttachment(*desk.admin, number, 0, "y.bin", b"abc", 6, NOW)
    path = runtime.data.attachments / added.File.fileNameOnDisk

    def append_then_fail():
        with runtime.db.transaction() as session:
            call = _call(session, runtime, 1, "admin")
            domain.append_to_attachment(call, added.File.fileId, b"def")
            assert path.read_bytes() == b"abcdef"
            raise Boom()

    with pytest.raises(Boom):
        await threads.deferToThread(append_then_fail)
    assert path.read_bytes() == b"abc"
    with runtime.db.transaction(writes=False) as session:
        assert session.get(TicketAttachment, added.File.fileId).length == 3
    # A tail left behind (a crash after the write) is overwritten by the next chunk.
    path.write_bytes(b"abcXYZW")
    assert (await desk.tickets.AppendToTicketAttachment(*desk.admin, added.File.fileId, b"def")).Result
    assert path.read_bytes() == b"abcdef"
    assert (await get(desk, (await desk.tickets.GetTicketAttachments(*desk.admin, ticket_id))
                      .Files.TicketAttachmentInfo[0].downloadUrl)).content == b"abcdef"


def test_clean_file_name_and_disk_path():
    assert domain.clean_file_name("  report.pdf ") == "report.pdf"
    for bad in ("a/b", "a\\b", "..", "x\x00y", "tab\there", ""):
        with pytest.raises(domain.InvalidArgument):
            domain.clean_file_name(bad)
    root = domain.Path("/srv/data/attachments")
    assert domain.disk_path(root, "ab/abc.bin") == root / "ab" / "abc.bin"
    with pytest.raises(ValueError):
        domain.disk_path(root, "../secret.key")


def test_max_attachment_size_setting():
    from stws.config import Config, ConfigError

    assert Config().max_attachment_size == 25 * 1024 * 1024
    assert Config.load({"max-attachment-size": "1000"}).max_attachment_size == 1000
    with pytest.raises(ConfigError):
        Config(max_attachment_size=0)
