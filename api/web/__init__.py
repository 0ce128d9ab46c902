"""The people's web pages (DESIGN §12): Chinese, server-rendered, from the same engine.

``blueprint`` is registered by the app factory next to the JSON API; everything under
``/api`` stays the API's.  Registering it also sets the app up for signed-cookie sessions
(:mod:`api.web.auth`): the secret key kept in the data folder, the cookie's flags, and the
per-request check of the signed-in user.
"""
from __future__ import annotations

from flask import Blueprint

# Assets under /assets: the app object answers /static itself (from a folder it does not have).
blueprint = Blueprint("web", __name__, template_folder="templates",
                      static_folder="static", static_url_path="/assets")

# The views register themselves on the blueprint when imported.
from api.web import auth, pages  # noqa: E402,F401
from api.web import pairings, needs, commitments  # noqa: E402,F401  (the act pages)
from api.web import supervise, evaluate, admin  # noqa: E402,F401  (supervisors, evaluators, admins)
