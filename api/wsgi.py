"""The WSGI application for production servers: ``gunicorn -w 4 'api.wsgi:app'``.

Settings come from the environment (``COBUILD_HOME``, ``COBUILD_DATABASE_URL``) through the
composition root; each worker process opens its own engine on the shared store.
"""
from api.app import create_app
from api.root import Root

app = create_app(Root.from_env())
