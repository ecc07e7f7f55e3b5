"""Page-number pagination without COUNT(*): a page reads one row more to know whether a next one exists."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

# Far past any real page, and small enough that the offset always fits a 64-bit integer.
MAX_PAGE_DIGITS = 8


class PagePagination(BasePagination):
    """`{"next", "previous", "results"}` pages of `page_size` rows (default 50, capped at 200)."""

    page_query_param = "page"
    page_size_query_param = "page_size"
    page_size = 50
    max_page_size = 200
    invalid_page_message = "Invalid page."

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.number = self.get_page_number(request)
        size = self.get_page_size(request)
        offset = (self.number - 1) * size
        rows = list(queryset[offset : offset + size + 1])
        if not rows and self.number > 1:
            raise NotFound(self.invalid_page_message)  # as DRF answers a page past the end
        self.has_next = len(rows) > size
        return rows[:size]

    def get_page_number(self, request) -> int:
        """Not a whole number from 1: a 400 naming `page`; past the last page: a 404."""
        digits = self._whole_number(request, self.page_query_param, "A whole number from 1.")
        if not digits:
            return 1
        if len(digits) > MAX_PAGE_DIGITS:
            raise NotFound(self.invalid_page_message)
        return int(digits)

    def get_page_size(self, request) -> int:
        """Not a whole number from 1: a 400 naming `page_size`; more than the maximum: the maximum."""
        message = f"A whole number from 1 (at most {self.max_page_size} rows are given)."
        digits = self._whole_number(request, self.page_size_query_param, message)
        if not digits:
            return self.page_size
        # Compare lengths first: int() of a huge digit string is slow, or refused past 4300 digits.
        return self.max_page_size if len(digits) > 3 else min(int(digits), self.max_page_size)

    @staticmethod
    def _whole_number(request, param: str, message: str) -> str:
        """The parameter's digits without leading zeros ("" when it is absent or empty)."""
        raw = request.query_params.get(param, "").strip()
        if not raw:
            return ""
        digits = raw.lstrip("0")
        if not (raw.isascii() and raw.isdigit() and digits):
            raise ValidationError({param: [message]})
        return digits

    def get_next_link(self):
        if not self.has_next:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.number + 1)

    def get_previous_link(self):
        if self.number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        properties = {"next": link, "previous": link, "results": schema}
        return {"type": "object", "required": ["results"], "properties": properties}
