"""What an invoice or bill still has outstanding, computed here the way Thredfi computes it, so
a payment allocating more than that fails locally instead of spending a request on a 400.

A document's total is the sum of its lines, each ``round_half_up(quantity × unit price in
cents)`` (the digest's line formula); what is outstanding is that total less what the host's
*other* payments and credit notes already allocate to it. What others recorded in Thredfi is
not known here, so the server still has the last word.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
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


#: The parents whose allocations take from an invoice's or a bill's outstanding amount.
ALLOCATING = {"invoice": ("payment", "customer_credit"), "bill": ("bill_payment", "vendor_credit")}


def allocation_models(target: str, document_model: type) -> list[type]:
    """Every installed allocation model (payment or credit) pointing at ``document_model``."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        if getattr(model, "thredfi_parent_resource", None) not in ALLOCATING[target]:
            continue
        field = next((f for f in model._meta.concrete_fields if f.name == target), None)
        if field is not None and field.is_relation and field.related_model is document_model:
            found.append(model)
    return found


def outstanding_cents(parent: Any, allocations: list[Any], target: str) -> dict[Any, int]:
    """``{document pk: cents still outstanding}`` for the ``target`` ("invoice"/"bill") of each
    allocation of ``parent`` (a payment or credit note), not counting ``parent``'s own."""
    documents = {getattr(a, f"{target}_id"): getattr(a, target) for a in allocations}
    documents = {pk: doc for pk, doc in documents.items() if pk is not None}
    if not documents:
        return {}
    taken: dict[Any, int] = dict.fromkeys(documents, 0)
    document_model = type(next(iter(documents.values())))
    for model in allocation_models(target, document_model):
        others = model._default_manager.filter(**{f"{target}__in": list(documents)})
        if model.thredfi_parent_resource == parent.thredfi_resource and parent.pk is not None:
            others = others.exclude(**{model.get_thredfi_parent_field().name: parent.pk})
        for other in others:
            try:
                amount = to_cents(other.get_thredfi_value("amount_cents"), strict=True)
            except (TypeError, ValueError, ArithmeticError):
                continue  # that payment's own validation reports it
            taken[getattr(other, f"{target}_id")] += amount
    result = {}
    for pk, document in documents.items():
        total = document_total_cents(document)
        if total is not None:
            result[pk] = total - taken[pk]
    return result
