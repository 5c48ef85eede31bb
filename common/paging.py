"""One page of a list, read from the URL (`page`, `per_page`): the total is counted, the rows of
the page only are read, and no page holds more than the largest page size."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator

PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50


@dataclass
class ListPage:
    rows: list
    total: int
    number: int
    num_pages: int
    per_page: int

    @property
    def start(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.rows else 0

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1 if self.rows else 0

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def per_page_choices(self) -> tuple[int, ...]:
        return PER_PAGE_CHOICES


def per_page_of(params, default: int = DEFAULT_PER_PAGE) -> int:
    try:
        value = int(params.get("per_page", default))
    except (TypeError, ValueError):
        return default
    return value if value in PER_PAGE_CHOICES else default


def list_page(queryset, params, *, default: int = DEFAULT_PER_PAGE) -> ListPage:
    """The page the URL asks for; a page number that is not one gives the first page, one past
    the end the last."""
    per_page = per_page_of(params, default)
    paginator = Paginator(queryset, per_page)
    page = paginator.get_page(params.get("page"))
    return ListPage(rows=list(page.object_list), total=paginator.count, number=page.number,
                    num_pages=paginator.num_pages, per_page=per_page)
