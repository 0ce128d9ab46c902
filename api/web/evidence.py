"""Photos and PDFs on the pages: the file field's server side, how attached files are shown,
and where a person's browser fetches them.

A form that takes files lists its endpoint in ``UPLOAD_ENDPOINTS`` and calls
:func:`store_files` once the rest of the form is right; the command is then given the files'
SHA-256.  Files are never required (the 2024 rules against photo quotas).  The templates
import ``file_input`` and ``attached`` from ``_evidence.html``; a view hands ``attached`` the
list :func:`attachments` makes of what the record's event recorded.
"""
from __future__ import annotations

from typing import Any

from flask import g, request, url_for

from api.files import file_response
from api.web.blueprint import blueprint
from api.web.auth import engine, signed_in
from domain import labels
from domain.errors import InvalidValue
from domain.evidence import MAX_FILES, MAX_SIZE, Evidence, FileTooLarge, FileTypeRefused, recorded_evidence

# The forms that take files; every other request keeps the app's small body limit.
UPLOAD_ENDPOINTS = {"web.record_activity", "web.deliver_need", "web.claim_fulfilment"}
# A form with its files: all of them at the size limit, and the text fields around them.
MAX_FORM = MAX_FILES * MAX_SIZE + 64 * 1024
MB = 1024 * 1024


@blueprint.before_app_request
def _room_for_files() -> None:
    """A form with photos may be as large as its files allow (an app-level hook, so it runs
    before the page's CSRF check reads the form)."""
    if request.endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        request.max_content_length = MAX_FORM


def size_words(size: int) -> str:
    """``356 KB``, ``2.4 MB``: a file's size as a person reads it."""
    return f"{size / MB:.1f} MB" if size >= MB else f"{max(1, round(size / 1024))} KB"


def store_files(form: Any, name: str = "evidence") -> list[Evidence]:
    """The files chosen in the field ``name``, kept once every one of them and the rest of
    ``form`` (an ``api.web.forms.Form``) are right; a wrong file is named beside the field in
    Chinese and nothing is kept."""
    chosen = [f for f in request.files.getlist(name) if f.filename]
    if len(chosen) > MAX_FILES:
        form.fail(name, f"最多选 {MAX_FILES} 个文件，现在选了 {len(chosen)} 个")
        return []
    contents = []
    for upload in chosen:
        data = upload.stream.read(MAX_SIZE + 1)
        try:
            Evidence.of(data)
        except FileTooLarge:
            form.fail(name, f"“{upload.filename}”太大：每个文件最大 {MAX_SIZE // MB} MB")
        except FileTypeRefused:
            form.fail(name, f"“{upload.filename}”不是 JPG、PNG 照片或 PDF 文件")
        except InvalidValue:
            form.fail(name, f"“{upload.filename}”是空文件，请重新选择")
        contents.append(data)
    if not form.ok:
        return []
    return [engine().store_evidence(g.actor, data) for data in contents]


def attachments(recorded: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """What a record's event recorded, ready for ``attached``: link, kind and size in words."""
    return [{"url": url_for("web.evidence_file", sha256=e.sha256), "image": e.is_image,
             "words": f"{labels.label(labels.MEDIA_TYPES, e.media_type)}（{size_words(e.size)}）"}
            for e in recorded_evidence(recorded)]


@blueprint.route("/files/<sha256>")
@signed_in
def evidence_file(sha256: str) -> Any:
    """A file, for its uploader and whoever may see a record naming it (else the 404 page)."""
    evidence, stream = engine().read_evidence(g.actor, sha256)
    return file_response(evidence, stream)
