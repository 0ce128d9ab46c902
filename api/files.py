"""An evidence file as an answer, the same from the JSON API and from the pages."""
from __future__ import annotations

from typing import BinaryIO, Iterator

from flask import Response

from domain.evidence import Evidence


def file_response(evidence: Evidence, stream: BinaryIO) -> Response:
    """The bytes with the type recorded when they arrived, never sniffed by the browser."""
    response = Response(_chunks(stream), mimetype=evidence.media_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(evidence.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}[evidence.media_type]
    # Photos show in the page; a PDF is saved and opened outside it (a browser's PDF viewer
    # does not run under the sandbox below).
    disposition = "inline" if evidence.is_image else "attachment"
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="{evidence.sha256[:12]}.{extension}"')
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"  # shared office computers keep no copy
    response.headers["ETag"] = f'"{evidence.sha256}"'
    return response


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(1 << 16):
            yield chunk
