"""A changelist paginator for tables of millions of rows: it counts the results only while there
are few of them.

Django's admin counts a changelist's results on every page view (``COUNT(*)``, a pass over the
whole table when nothing is filtered). Above ``EXACT_COUNT_LIMIT`` results (PostgreSQL's
estimate) the estimate stands in for the count: page links stay right to within the estimate's
error, and a page costs the same at a million rows as at ten thousand.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from ..conf import thredfi_settings
from ..sql import estimated_count


class EstimatingPaginator(Paginator):
    """Counts results exactly up to ``EXACT_COUNT_LIMIT``; above it, the database's estimate."""

    @cached_property
    def count(self) -> int:
        estimate = estimated_count(self.object_list)
        if estimate is not None and estimate > int(thredfi_settings.EXACT_COUNT_LIMIT):
            return estimate
        return super().count
