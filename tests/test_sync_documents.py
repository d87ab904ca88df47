"""An invoice's or bill's PDF reaches Thredfi as its ``document``: once, in a multipart body,
checked locally first, and sent again only when the file changes."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from tests.testapp.factories import make_bill, make_invoice
from thredfi_django.engine import pipeline
from thredfi_django.engine.absorb import state_for
from thredfi_django.engine.drain import sync_state
from thredfi_django.engine.plan import preview
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db

#: A PDF whose bytes include what a careless multipart reader would trip on: CRLFs, binary,
#: and a line that looks like a boundary.
PDF = b"%PDF-1.7\n" + b"\x00\xff\xfe binary \r\n--boundary-lookalike\r\n" * 40 + b"%%EOF\n"
SECOND_PDF = b"%PDF-1.7\n" + b"a corrected invoice\r\n" * 30 + b"%%EOF\n"


@pytest.fixture
def sent(thredfi_fake, monkeypatch):
    """(method, path, content type) of every request the fake answers, in order."""
    seen = []
    answer = thredfi_fake.handle

    def handle(method, path, headers=None, body=b"", **kwargs):
        content_type = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
        seen.append((method, urlsplit(path).path, content_type.split(";")[0]))
        return answer(method, path, headers, body, **kwargs)

    monkeypatch.setattr(thredfi_fake, "handle", handle)
    return seen


def writes_to(sent, collection: str) -> list[tuple[str, str]]:
    """(method, content type) of the creates and updates of ``collection`` (not its
    sub-resources such as invoices/payments/)."""
    found = []
    for method, path, content_type in sent:
        parts = path.rstrip("/").split("/")
        owner = parts[-1] if method == "POST" else parts[-2]
        if method in ("POST", "PUT") and owner == collection:
            found.append((method, content_type))
    return found


def limit(settings, max_bytes: int) -> None:
    settings.THREDFI = {**settings.THREDFI, "DOCUMENT_MAX_BYTES": max_bytes}


def test_an_invoice_with_a_pdf_is_pushed_once_as_multipart_and_thredfi_keeps_it(
    thredfi_fake, sent, queue, committed
):
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="INV-1.pdf"))
    assert {r.outcome for r in queue.drain()} == {"synced"}

    invoice.refresh_from_db()
    assert writes_to(sent, "invoices") == [("POST", "multipart/form-data")]
    (document,) = thredfi_fake.documents("invoices", str(invoice.thredfi_id))
    assert (document["document_type"], document["file_name"]) == ("sales_invoice", "INV-1.pdf")
    assert document["content"] == PDF
    (remote,) = thredfi_fake.records("invoices")
    assert remote["total_amount"] == 10000, "the lines survive the form encoding"
    (listed,) = remote["documents"]
    assert (listed["file_size"], listed["mime_type"]) == (len(PDF), "application/pdf")
    assert state_for(invoice).document_digest == hashlib.sha256(PDF).hexdigest()


def test_a_bill_with_a_pdf_is_sent_as_a_purchase_invoice(thredfi_fake, sent, queue, committed):
    with committed():
        bill = make_bill(pdf=ContentFile(PDF, name="supplier-bill.pdf"))
    assert {r.outcome for r in queue.drain()} == {"synced"}

    bill.refresh_from_db()
    assert writes_to(sent, "bills") == [("POST", "multipart/form-data")]
    (document,) = thredfi_fake.documents("bills", str(bill.thredfi_id))
    assert (document["document_type"], len(document["content"])) == ("purchase_invoice", len(PDF))
    (remote,) = thredfi_fake.records("bills")
    assert remote["total_amount"] == 12000
    assert remote["documents"][0]["file_name"] == "supplier-bill.pdf"


def test_an_invoice_without_a_file_is_still_sent_as_json(thredfi_fake, sent, queue, committed):
    with committed():
        make_invoice()
    queue.drain()

    assert writes_to(sent, "invoices") == [("POST", "application/json")]
    assert thredfi_fake.records("invoices")[0]["documents"] == []


def test_an_oversized_pdf_is_refused_before_any_request_and_goes_once_allowed(
    thredfi_fake, sent, queue, committed, settings
):
    big = PDF + b"0" * 4096
    limit(settings, 2048)
    with committed():
        invoice = make_invoice(pdf=ContentFile(big, name="INV-big.pdf"))
    # The invoice's own push first: it would push its business and customer inline.
    assert sync_state(state_for(invoice).pk, worker="w").outcome == "needs_attention"

    assert sent == [], "nothing is sent, not even the business"
    state = state_for(invoice)
    assert state.status == SyncStatus.NEEDS_ATTENTION
    (message,) = state.last_error_fields["document"]
    assert "INV-big.pdf" in message and f"({len(big)} bytes)" in message
    assert "at most 2 KiB (2048 bytes)" in message and "DOCUMENT_MAX_BYTES" in message

    limit(settings, 1024 * 1024)
    with committed():
        invoice.save()  # the fix (a higher limit) and a save: nothing was lost
    queue.drain()
    assert state_for(invoice).status == SyncStatus.SYNCED
    assert writes_to(sent, "invoices") == [("POST", "multipart/form-data")]


def test_a_file_that_is_not_a_pdf_is_refused_locally(thredfi_fake, sent, queue, committed):
    with committed():
        bill = make_bill(pdf=ContentFile(b"<html>not a pdf</html>", name="bill.pdf"))
    assert sync_state(state_for(bill).pk, worker="w").outcome == "needs_attention"

    assert sent == []
    (message,) = state_for(bill).last_error_fields["document"]
    assert "bill.pdf" in message and "is not a PDF" in message


def test_an_update_resends_the_pdf_only_when_it_changed(thredfi_fake, sent, queue, committed):
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="INV-2.pdf"))
    queue.drain()
    invoice.refresh_from_db()
    remote_id = str(invoice.thredfi_id)

    with committed():
        invoice.memo = "Paid by card"
        invoice.save()
    queue.drain()
    assert writes_to(sent, "invoices")[-1] == ("PUT", "application/json")
    assert preview(invoice)["payload"].get("document") is None, "nor would the next push"
    assert len(thredfi_fake.documents("invoices", remote_id)) == 1

    with committed():
        invoice.pdf = ContentFile(SECOND_PDF, name="INV-2-corrected.pdf")
        invoice.save()
    queue.drain()
    assert writes_to(sent, "invoices")[-1] == ("PUT", "multipart/form-data")
    first, second = thredfi_fake.documents("invoices", remote_id)
    assert (second["file_name"], second["content"]) == ("INV-2-corrected.pdf", SECOND_PDF)
    assert thredfi_fake.records("invoices")[0]["memo"] == "Paid by card"
    assert state_for(invoice).document_digest == hashlib.sha256(SECOND_PDF).hexdigest()


def test_a_record_adopted_after_a_lost_answer_is_not_sent_the_pdf_twice(
    thredfi_fake, sent, queue, committed
):
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="INV-3.pdf"))
    thredfi_fake.fail_next(1, status="drop", path_contains="/invoices/")
    outcomes = [r.outcome for r in queue.drain()]
    assert outcomes[-1] == "retry", "created with its PDF, but the answer was lost"

    with committed():
        invoice.memo = "changed while the answer was lost"
        invoice.save()
    queue.clear()
    state = state_for(invoice)
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=timezone.now())
    assert sync_state(state.pk, worker="w").outcome == "synced"

    (remote,) = thredfi_fake.records("invoices")
    assert remote["memo"] == "changed while the answer was lost"
    assert len(thredfi_fake.documents("invoices", remote["id"])) == 1
    assert writes_to(sent, "invoices")[-1] == ("PUT", "application/json")


def retry_now(state: SyncState) -> str:
    """Push ``state``'s row again at once (its backoff skipped); the outcome."""
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=timezone.now())
    return sync_state(state.pk, worker="w").outcome


def test_a_changed_pdf_whose_update_answer_was_lost_is_not_attached_twice(
    thredfi_fake, sent, queue, committed
):
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="A.pdf"))
    queue.drain()
    invoice.refresh_from_db()
    remote_id = str(invoice.thredfi_id)

    with committed():
        invoice.pdf = ContentFile(SECOND_PDF, name="B.pdf")
        invoice.save()
    thredfi_fake.fail_next(1, status="drop", path_contains=f"/invoices/{remote_id}/")
    assert [r.outcome for r in queue.drain()] == ["retry"], "B.pdf attached, answer lost"

    assert retry_now(state_for(invoice)) == "synced"
    contents = [doc["content"] for doc in thredfi_fake.documents("invoices", remote_id)]
    assert contents == [PDF, SECOND_PDF], "B.pdf once"
    assert state_for(invoice).document_digest == hashlib.sha256(SECOND_PDF).hexdigest()


def test_an_update_that_follows_no_lost_answer_does_not_look_the_record_up(
    thredfi_fake, sent, queue, committed
):
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="A.pdf"))
    queue.drain()
    sent.clear()
    with committed():
        invoice.pdf = ContentFile(SECOND_PDF, name="B.pdf")
        invoice.save()
    queue.drain()

    assert [method for method, _, _ in sent] == ["PUT"]


def test_a_pdf_changed_after_a_lost_create_is_sent_with_the_adopting_update(
    thredfi_fake, sent, queue, committed
):
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="A.pdf"))
    thredfi_fake.fail_next(1, status="drop", path_contains="/invoices/")
    assert [r.outcome for r in queue.drain()][-1] == "retry", "created with A.pdf, answer lost"

    with committed():
        invoice.pdf = ContentFile(SECOND_PDF, name="B.pdf")
        invoice.save()
    queue.clear()
    assert retry_now(state_for(invoice)) == "synced"

    (remote,) = thredfi_fake.records("invoices")
    contents = [doc["content"] for doc in thredfi_fake.documents("invoices", remote["id"])]
    assert contents == [PDF, SECOND_PDF], "Thredfi holds what the row says was sent"
    assert writes_to(sent, "invoices")[-1] == ("PUT", "multipart/form-data")


def test_a_file_that_grows_past_the_limit_after_the_check_is_still_refused(
    thredfi_fake, sent, queue, committed, settings, monkeypatch
):
    limit(settings, 2048)
    with committed():
        invoice = make_invoice(pdf=ContentFile(PDF, name="INV-grown.pdf"))
    big = PDF + b"0" * 4096
    planned = pipeline.plan_push

    def plan_then_replace_the_file(state, instance, ensure):
        call = planned(state, instance, ensure)
        if instance == invoice:
            with instance.pdf.storage.open(instance.pdf.name, "wb") as handle:
                handle.write(big)  # replaced on disk between the check and the send
        return call

    monkeypatch.setattr(pipeline, "plan_push", plan_then_replace_the_file)
    queue.drain()

    assert writes_to(sent, "invoices") == [], "the grown file never left"
    state = state_for(invoice)
    assert state.status == SyncStatus.NEEDS_ATTENTION
    (message,) = state.last_error_fields["document"]
    assert "INV-grown" in message and f"({len(big)} bytes)" in message
    assert "DOCUMENT_MAX_BYTES" in message
