"""The API's JSON parser: DRF's, with the bodies that JSON can spell but nobody should send
turned into a clear 400 instead of a 500.

- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but Python's reader accepts them) are
  refused by name. A number too big for a float (``1e400``) still parses, as ``inf``; the
  services find it with ``reviewapp.validation.json_problems`` and say where it is.
- A body nested too deeply for the reader (Python's recursion limit, near 1,000 levels) is
  refused whole. Shallower nesting past ``REVIEWAPP_MAX_JSON_DEPTH`` parses and is refused by
  the services, per item where a batch has items.
"""

import codecs
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from reviewapp.validation import max_json_depth


def _refuse_constant(name: str) -> Any:
    raise ParseError(f"JSON parse error - {name} is not a JSON number; send finite numbers only.")


class ReviewAppJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 for non-finite constants and for nesting too deep
    to parse."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            return json.load(codecs.getreader(encoding)(stream), parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError(
                "JSON parse error - the body is nested too deeply to read; "
                f"values may nest at most {max_json_depth()} levels."
            ) from None
        except ValueError as exc:  # includes UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
