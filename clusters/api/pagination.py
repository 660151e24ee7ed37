"""Pagination by page number or by cursor, saying what is wrong with a bad
request instead of guessing: `page=0`, `page=abc`, an oversized
`page_size` or a mangled `cursor` are 400s, a page past the end is a 404.

`page=N` reaches any page directly; the `next` link carries a cursor
(clusters/api/keyset.py), so a client walking a list page by page reads
page 2,000 as fast as page 2. `previous` is by page number."""

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from clusters.api import keyset
from clusters.links import absolute_url

# Far beyond any real list; bounds the number before it reaches the database.
MAX_PAGE_NUMBER = 999_999_999


class PageNumberPagination(pagination.PageNumberPagination):
    """Page numbers for direct access, cursors for `next` links."""

    page_size_query_param = "page_size"
    cursor_query_param = "cursor"
    max_page_size = settings.API_MAX_PAGE_SIZE
    last_page_strings = ()

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        return self.positive_integer(self.page_size_query_param, raw, maximum=self.max_page_size)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw in (None, ""):
            return 1
        return self.positive_integer(self.page_query_param, raw)

    def check_parameters(self, request):
        self.get_page_size(request)
        self.get_page_number(request, paginator=None)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.rows_per_page = self.get_page_size(request)
        self.sort_keys = keyset.sort_keys(queryset)
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor in (None, ""):
            return self.page_by_number(queryset, request)
        return self.page_after_cursor(queryset, request, cursor)

    def page_by_number(self, queryset, request):
        paginator = self.django_paginator_class(queryset, self.rows_per_page)
        number = self.get_page_number(request, paginator)
        # An empty list still has a page 1 (Django's paginator allows it).
        if number > paginator.num_pages:
            raise NotFound(
                {self.page_query_param: f"There is no page {number}: the last page is {paginator.num_pages}."}
            )
        self.page = paginator.page(number)
        self.display_page_controls = paginator.num_pages > 1 and self.template is not None
        self.count, self.number, self.has_next = paginator.count, number, self.page.has_next()
        self.rows = list(self.page)
        return self.rows

    def page_after_cursor(self, queryset, request, cursor):
        if request.query_params.get(self.page_query_param) not in (None, ""):
            raise ValidationError({self.cursor_query_param: "Give `page` or `cursor`, not both."})
        if self.sort_keys is None:
            message = "This list cannot be read by cursor; use `page`."
            raise ValidationError({self.cursor_query_param: message})
        try:
            position = keyset.decode(cursor, self.sort_keys)
        except keyset.BadCursor as error:
            raise ValidationError({self.cursor_query_param: str(error)}) from None
        if position.number > MAX_PAGE_NUMBER:
            raise ValidationError({self.cursor_query_param: keyset.NOT_OURS})
        # One row more than a page says whether another page follows.
        rows = list(keyset.after(queryset, self.sort_keys, position.values)[: self.rows_per_page + 1])
        self.display_page_controls = False
        self.count, self.number = queryset.count(), position.number
        self.has_next, self.rows = len(rows) > self.rows_per_page, rows[: self.rows_per_page]
        return self.rows

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_next_link(self):
        if not self.has_next:
            return None
        url = self.page_url()
        if self.sort_keys is None:
            return replace_query_param(url, self.page_query_param, self.number + 1)
        cursor = keyset.encode(self.sort_keys, self.rows[-1], self.number + 1)
        url = remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_previous_link(self):
        if self.number <= 1:
            return None
        url = remove_query_param(self.page_url(), self.cursor_query_param)
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def page_url(self):
        """This page's URL on the site's origin (never the request's Host)."""
        return absolute_url(self.request.get_full_path())

    @staticmethod
    def positive_integer(name, raw, maximum=MAX_PAGE_NUMBER):
        error = ValidationError({name: f"Must be a whole number from 1 to {maximum}."})
        if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_PAGE_NUMBER))):
            raise error
        value = int(raw)
        if not 1 <= value <= maximum:
            raise error
        return value

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(minimum=1, maximum=MAX_PAGE_NUMBER)
            if parameter["name"] == self.page_query_param:
                parameter["description"] = "Page number (1 is the first); `next` links use `cursor` instead."
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
        cursor = {
            "name": self.cursor_query_param,
            "required": False,
            "in": "query",
            "description": "Where the previous page ended, as given in a `next` link (opaque); "
            "fast at any depth. Not with `page`.",
            "schema": {"type": "string"},
        }
        return [*parameters, cursor]
