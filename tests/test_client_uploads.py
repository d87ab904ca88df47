"""A request body holding a file goes as multipart/form-data in DRF's notation; the fake reads
it back, in-process and over real HTTP."""

from __future__ import annotations

import copy
import hashlib

import pytest
import requests
from django.conf import settings

from thredfi_django.client import Upload, get_client
from thredfi_django.client.uploads import form_fields
from thredfi_django.exceptions import ThredfiValidationError
from thredfi_django.testing.forms import UploadedFile, parse_multipart

PDF = b"%PDF-1.4\n\x00\xff\r\n--x\r\n%%EOF"


def upload(content: bytes = PDF, name: str = "INV-7.pdf") -> Upload:
    return Upload(name, len(content), hashlib.sha256(content).hexdigest(), lambda: content)


BODY = {
    "external_id": "inv-7",
    "customer_id": "c-1",
    "memo": None,
    "tax_exempt": False,
    "transaction_tags": ["web", "eu"],
    "metadata": {"order": 7, "channel": "shop"},
    "line_items": [
        {
            "quantity": 2,
            "unit_price": 5000,
            "account_identifier": {"type": "AccountId", "id": "acc-1"},
            "sales_taxes": [{"amount": 1000}],
        },
        {"quantity": "1.5", "unit_price": 200},
    ],
    "document": {"file": upload(), "document_type": "sales_invoice"},
}


def test_nested_lists_and_objects_are_flattened_the_way_drf_reads_them():
    fields, files = form_fields(BODY)

    assert fields == [
        ("external_id", "inv-7"),
        ("customer_id", "c-1"),
        ("tax_exempt", "false"),
        ("transaction_tags[0]", "web"),
        ("transaction_tags[1]", "eu"),
        ("metadata", '{"order": 7, "channel": "shop"}'),
        ("line_items[0]quantity", "2"),
        ("line_items[0]unit_price", "5000"),
        ("line_items[0]account_identifier.type", "AccountId"),
        ("line_items[0]account_identifier.id", "acc-1"),
        ("line_items[0]sales_taxes[0]amount", "1000"),
        ("line_items[1]quantity", "1.5"),
        ("line_items[1]unit_price", "200"),
        ("document.document_type", "sales_invoice"),
    ]
    assert files == [("document.file", ("INV-7.pdf", PDF, "application/pdf"))]


def test_the_fake_reads_the_multipart_body_back_into_the_same_object():
    fields, files = form_fields(BODY)
    request = requests.Request("POST", "http://fake/", data=fields, files=files).prepare()

    parsed = parse_multipart(request.body, request.headers["Content-Type"])

    document = parsed.pop("document")
    assert document["document_type"] == "sales_invoice"
    assert document["file"] == UploadedFile("INV-7.pdf", PDF, "application/pdf")
    expected = copy.deepcopy({k: v for k, v in BODY.items() if k not in ("document", "memo")})
    expected["tax_exempt"] = "false"  # a form value is text unless the serializer says more
    expected["line_items"][0]["quantity"] = "2"
    assert parsed == expected


@pytest.fixture
def headers_seen(thredfi_fake, monkeypatch):
    seen = []
    answer = thredfi_fake.handle

    def handle(method, path, headers=None, body=b"", **kwargs):
        seen.append({k.lower(): v for k, v in (headers or {}).items()})
        return answer(method, path, headers, body, **kwargs)

    monkeypatch.setattr(thredfi_fake, "handle", handle)
    return seen


def invoice_body(external_id: str, document_type: str = "sales_invoice") -> dict:
    return {
        "external_id": external_id,
        "customer_external_id": "cust-1",
        "sent_at": "2026-01-05T00:00:00Z",
        "line_items": [{"quantity": 3, "unit_price_cents": 1500, "account_code": "4000"}],
        "document": {"file": upload(), "document_type": document_type},
    }


def scope(fake):
    business = fake.add_business(settings.THREDFI["PARTNER_UUID"])
    acme = get_client().business(business["id"])
    acme.customers.create({"external_id": "cust-1", "company_name": "Acme"})
    return acme


def test_a_multipart_create_carries_the_same_headers_as_json(thredfi_fake, headers_seen):
    acme = scope(thredfi_fake)

    record = acme.invoices.create(invoice_body("inv-1"), idempotency_key="inv-1")

    sent = headers_seen[-1]
    assert sent["content-type"].startswith("multipart/form-data; boundary=")
    assert sent["authorization"].startswith("Bearer ") and sent["idempotency-key"] == "inv-1"
    assert record["total_amount"] == 4500
    assert record["documents"][0]["file_size"] == len(PDF)


def test_the_fake_over_real_http_stores_the_document_and_checks_its_type(thredfi_fake_server):
    acme = scope(thredfi_fake_server)

    record = acme.invoices.create(invoice_body("inv-2"))
    (document,) = thredfi_fake_server.documents("invoices", record["id"])
    assert (document["document_type"], document["content"]) == ("sales_invoice", PDF)
    with pytest.raises(ThredfiValidationError) as refused:
        acme.invoices.create(invoice_body("inv-3", document_type="purchase_invoice"))
    assert "document.document_type" in refused.value.field_errors


@pytest.mark.parametrize(
    "fields",
    [
        {"memo": "paid", "memo.note": "twice"},
        {"memo.note": "twice", "memo": "paid"},
        {"line_items": ["one"], "line_items[0]quantity": "2"},
        {"[]": "nameless"},
    ],
    ids=["value-then-object", "object-then-value", "list-item-then-object", "empty-name"],
)
def test_the_fake_answers_conflicting_or_empty_form_names_with_a_validation_error(
    thredfi_fake, fields
):
    acme = scope(thredfi_fake)

    with pytest.raises(ThredfiValidationError) as refused:
        acme.invoices.create({**invoice_body("inv-4"), **fields})

    assert refused.value.status_code == 400
    (name,) = refused.value.field_errors
    assert name in fields
