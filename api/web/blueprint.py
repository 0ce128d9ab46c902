"""The pages' blueprint, on which the views (``api.web.auth``, ``api.web.pages``) register."""
from __future__ import annotations

from flask import Blueprint

# Assets under /assets: the app object answers /static itself (from a folder it does not have).
blueprint = Blueprint("web", __name__, template_folder="templates",
                      static_folder="static", static_url_path="/assets")
