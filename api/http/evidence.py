"""/evidence: photos and PDFs, stored by SHA-256, then named by commands that record facts.

``POST /evidence`` (multipart, field ``file``) keeps the bytes and answers their digest, size
and type; a command then lists the digests in its ``evidence`` field.  ``GET
/evidence/<sha256>`` answers the bytes to the uploader and to whoever may see a record
naming the file; to anybody else the file does not exist.
"""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from api.files import file_response
from api.http.context import API_PREFIX, actor, engine
from api.http.problems import Problem
from api.http.schemas import EvidenceSchema
from domain.evidence import MAX_SIZE, MEDIA_TYPES, Evidence

blp = Blueprint("evidence", __name__, url_prefix="/api/v1/evidence",
                description="Evidence files (佐证材料): JPEG/PNG photos and PDFs, at most "
                            f"{MAX_SIZE // 1024 // 1024} MB each, named by their SHA-256")

# The multipart envelope around a file at the size limit (boundaries, headers of the part).
UPLOAD_OVERHEAD = 64 * 1024
MAX_UPLOAD = MAX_SIZE + UPLOAD_OVERHEAD
FIELD = "file"


def evidence_body(evidence: Evidence) -> dict[str, object]:
    return evidence.as_dict()


def allow_upload_size() -> None:
    """Raise this request's body limit from the app's (a few KB of JSON) to one file."""
    request.max_content_length = MAX_UPLOAD


@blp.route("", methods=["POST"])
@blp.response(201, EvidenceSchema)
@blp.doc(summary="Upload a photo (JPEG, PNG) or a PDF; the same bytes are stored once",
         requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
             "type": "object", "required": [FIELD],
             "properties": {FIELD: {"type": "string", "format": "binary"}}}}}},
         responses={"413": {"description": f"larger than {MAX_SIZE} bytes"},
                    "415": {"description": "not a JPEG, PNG or PDF (judged by its content)"}})
def upload_evidence():
    if request.mimetype != "multipart/form-data":
        raise Problem(415, "unsupported-media-type",
                      f"send the file as multipart/form-data in the field {FIELD!r}")
    upload = request.files.get(FIELD)
    if upload is None:
        raise Problem(422, "invalid-fields", f"no file in the field {FIELD!r}",
                      errors={FIELD: ["a file is required"]})
    evidence = engine().store_evidence(actor(), upload.read(MAX_SIZE + 1))
    return evidence_body(evidence), 201, {"Location": f"{API_PREFIX}/evidence/{evidence.sha256}"}


@blp.route("/<sha256>", methods=["GET"])
@blp.doc(summary="Download a file: for its uploader and whoever may see a record naming it",
         responses={"200": {"description": "the file's bytes",
                            "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                        for t in MEDIA_TYPES}}})
def download_evidence(sha256: str) -> Response:
    evidence, stream = engine().read_evidence(actor(), sha256)
    return file_response(evidence, stream)
