"""What an invoice or bill still has outstanding, computed here the way Thredfi computes it, so
a payment allocating more than that fails locally instead of spending a request on a 400.

A document's total is the sum of its lines, each ``round_half_up(quantity × unit price in
cents)`` (the digest's line formula); what is outstanding is that total less what *other*
payments of the host already allocate to it. Payments recorded in Thredfi by someone else are
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


def outstanding_cents(payment: Any, allocations: list[Any], target: str) -> dict[Any, int]:
    """``{document pk: cents still outstanding}`` for the ``target`` ("invoice"/"bill") of each
    allocation of ``payment``, not counting ``payment``'s own allocations."""
    documents = {getattr(a, f"{target}_id"): getattr(a, target) for a in allocations}
    documents = {pk: doc for pk, doc in documents.items() if pk is not None}
    if not documents:
        return {}
    model = type(allocations[0])
    parent_field = model.get_thredfi_parent_field().name
    others = model._default_manager.filter(**{f"{target}__in": list(documents)})
    if payment.pk is not None:
        others = others.exclude(**{parent_field: payment.pk})
    taken: dict[Any, int] = dict.fromkeys(documents, 0)
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
