"""JSON out: plotly's encoder (figures, numpy, NaN as null), and JSON that is safe to put
inside a page's <script> element."""

from __future__ import annotations

from collections.abc import Mapping

from plotly.io.json import to_json_plotly
from starlette.responses import Response

# Inside <script>, `</script>` in a sweep name would end the element: write <, > and & as
# JSON escapes, which JSON.parse reads back as the same characters.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def to_json(payload: object) -> str:
    return to_json_plotly(payload)


def script_json(payload: object) -> str:
    return to_json(payload).translate(_SCRIPT_SAFE)


def json_response(
    payload: object, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(to_json(payload), status_code, headers, media_type="application/json")
