"""Page-number pagination that says what is wrong with a bad page request
instead of guessing: `page=0`, `page=abc` and an oversized `page_size` are
400s, a page past the end is a 404."""

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

# Far beyond any real list; bounds the number before it reaches the database.
MAX_PAGE_NUMBER = 999_999_999


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
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
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        number = self.get_page_number(request, paginator)
        # An empty list still has a page 1 (Django's paginator allows it).
        if number > paginator.num_pages:
            raise NotFound(
                {self.page_query_param: f"There is no page {number}: the last page is {paginator.num_pages}."}
            )
        self.page = paginator.page(number)
        self.display_page_controls = paginator.num_pages > 1 and self.template is not None
        return list(self.page)

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
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
        return parameters
