"""Streaming a recording to an authorised viewer, with HTTP range requests (RFC 9110 §14) so
that the player can seek: 206 with Content-Range for a range, 416 for one outside the file.
The answer is never cached (Cache-Control: private, no-store) and its bytes are never logged."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from ally.web.ipr.media import read_range

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(first, last) of a single range; None without one (or one this server ignores, such as
    several ranges); False when it cannot be satisfied."""
    match = RANGE.match(header.strip())
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
        if match[2] and int(match[2]) < first:
            return None  # invalid: ignored (RFC 9110 §14.1.1)
    else:
        length = int(match[2])
        if length == 0:
            return False
        first, last = max(0, size - length), size - 1
    if first >= size:
        return False
    return first, last


def media_response(
    request: HttpRequest, *, file_id: str, key: bytes, size: int, media_type: str
) -> HttpResponse | StreamingHttpResponse:
    wanted = byte_range(request.headers.get("Range", ""), size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
        body = read_range(file_id, key, size, first, last) if size else iter([b""])
        response = StreamingHttpResponse(
            body, status=206 if isinstance(wanted, tuple) else 200, content_type=media_type
        )
        response["Content-Length"] = str(last - first + 1 if size else 0)
        if isinstance(wanted, tuple):
            response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = 'inline; filename="recording"'
    return response
