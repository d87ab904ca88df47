"""What an invoice or bill still has outstanding, computed here the way Thredfi computes it, so
a payment allocating more than that fails locally instead of spending a request on a 400.

A document's total is the sum of its lines, each ``round_half_up(quantity × unit price in
cents)`` (the digest's line formula); what is outstanding is that total less what the host's
*other* payments and credit notes already allocate to it. What others recorded in Thredfi is
not known here, so the server still has the last word.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from .money import to_cents


def document_total_cents(document: Any) -> int | None:
    """The total of an invoice or bill in cents, from its lines (None: a line cannot be read,
    which validation reports on the document itself)."""
    total = 0
    for line in getattr(document, document.thredfi_lines_related_name).all():
        price, quantity = line.get_thredfi_value("unit_price"), line.get_thredfi_value("quantity")
        try:
            exact = Decimal(str(quantity)) * to_cents(price, strict=True)
        except (TypeError, ValueError, ArithmeticError):
            return None
        total += int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return total


#: What takes from an invoice's or a bill's outstanding amount: the allocations of these
#: parents (payments, credit notes), and these synced objects themselves (write-offs). Each
#: points at the document with a foreign key named after it ("invoice", "bill").
ALLOCATING = {"invoice": ("payment", "customer_credit"), "bill": ("bill_payment", "vendor_credit")}
TAKING = {"invoice": ("write_off",), "bill": ()}


@cache
def taking_models(target: str, document_model: type) -> tuple[tuple[type, str], ...]:
    """``(model, resource it belongs to)`` for every installed model taking from a document
    (installed models do not change while the process runs, so this is worked out once)."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        owner = getattr(model, "thredfi_parent_resource", None)
        if owner not in ALLOCATING[target]:
            owner = getattr(model, "thredfi_resource", None)
            if owner not in TAKING[target]:
                continue
        field = next((f for f in model._meta.concrete_fields if f.name == target), None)
        if field is not None and field.is_relation and field.related_model is document_model:
            found.append((model, owner))
    return tuple(found)


def outstanding_cents(owner: Any, documents: list[Any], target: str) -> dict[Any, int]:
    """``{document pk: cents still outstanding}`` for each invoice or bill (``target``) in
    ``documents``, not counting what ``owner`` (a payment, credit note or write-off) takes."""
    documents = {doc.pk: doc for doc in documents if doc is not None and doc.pk is not None}
    if not documents:
        return {}
    taken: dict[Any, int] = dict.fromkeys(documents, 0)
    document_model = type(next(iter(documents.values())))
    for model, resource in taking_models(target, document_model):
        rows = model._default_manager.filter(**{f"{target}__in": list(documents)})
        if resource == owner.thredfi_resource and owner.pk is not None:
            # The owner's own allocations (a child model), or the owner itself (a write-off).
            child = hasattr(model, "get_thredfi_parent_field")
            own = {model.get_thredfi_parent_field().name: owner.pk} if child else {"pk": owner.pk}
            rows = rows.exclude(**own)
        for row in rows:
            try:
                amount = to_cents(row.get_thredfi_value("amount_cents"), strict=True)
            except (TypeError, ValueError, ArithmeticError):
                continue  # that object's own validation reports it
            taken[getattr(row, f"{target}_id")] += amount
    result = {}
    for pk, document in documents.items():
        total = document_total_cents(document)
        if total is not None:
            result[pk] = total - taken[pk]
    return result
