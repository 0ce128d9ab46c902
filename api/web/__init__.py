"""The people's web pages (docs/web.md): Chinese, server-rendered, from the same engine.

``blueprint`` is registered by the app factory next to the JSON API; everything under
``/api`` stays the API's.  Registering it also sets the app up for signed-cookie sessions
(:mod:`api.web.auth`): the secret key kept in the data folder, the cookie's flags, and the
per-request check of the signed-in user.
"""
from __future__ import annotations

# The views register themselves on the blueprint when imported.
from api.web import auth, pages  # noqa: F401
from api.web import pairings, needs, commitments  # noqa: F401  (the act pages)
from api.web import evidence  # noqa: F401  (files: the upload hook and /files/<sha256>)
from api.web import supervise, evaluate, admin  # noqa: F401  (supervisors, evaluators, admins)
from api.web import rate, messages  # noqa: F401  (结果联评, 消息)
from api.web.blueprint import blueprint

__all__ = ["blueprint"]
