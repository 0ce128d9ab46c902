"""The application the servers run: the JSON API under /api and the people's pages beside it.

The two entry points stay apart (neither imports the other); this is where they meet, as
``api.serve`` and ``api.wsgi`` serve them, on the parts of one composition root.
"""
from __future__ import annotations

from flask import Flask

from api import web
from api.http.app import create_app as create_api
from api.root import Root


def create_app(root: Root) -> Flask:
    app = create_api(root)
    app.register_blueprint(web.blueprint)  # the people's pages (/, /login, /todo ...)
    return app
