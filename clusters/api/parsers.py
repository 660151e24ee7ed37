"""JSON bodies, refusing absurd nesting with a 400 rather than a crash."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's decoder gives up on very deep nesting with RecursionError,
            # which DRF's parser does not catch.
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
