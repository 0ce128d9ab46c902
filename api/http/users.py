"""/users: accounts and their bearer tokens (tokens are shown once and stored hashed)."""
from __future__ import annotations

from uuid import UUID

import marshmallow as ma
from flask_smorest import Blueprint

from api.http.context import API_PREFIX, actor, created, done, engine, etag
from api.http.fields import Label, Text, one_of, region_field
from api.http.routes import command
from api.http.schemas import ETAG_HEADER, Body, OutcomeSchema
from domain import labels
from domain.base import ROLES
from domain.user import User

blp = Blueprint("users", __name__, url_prefix="/api/v1/users",
                description="Users, their roles and bearer tokens")


class RegisterUser(Body):
    name = Text(required=True, max_length=100)
    role = one_of(ROLES, required=True)
    organisation_id = ma.fields.UUID(metadata={"description": "for agency and village users"})
    region_code = region_field(scope=True, metadata={
        "description": "region prefix for admin, supervisor and evaluator ('' = the whole country)"})


class NewToken(Body):
    """Issuing a token takes no fields."""


class RevokeToken(Body):
    token = Text(required=True, max_length=200)
    reason = Text(required=True, max_length=2000, multiline=True)


class UserCreated(OutcomeSchema):
    token = ma.fields.String(required=True, metadata={"description": "shown once; store it safely"})


class TokenIssued(ma.Schema):
    user_id = ma.fields.UUID(required=True)
    token = ma.fields.String(required=True, metadata={"description": "shown once; store it safely"})


class Me(ma.Schema):
    user_id = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    role_label = Label("role", labels.ROLES)
    organisation_id = ma.fields.UUID(allow_none=True)
    region_code = ma.fields.String(allow_none=True)


@command(blp, "", RegisterUser, "Register a user (admin); answers the token once", status=201,
         answer=UserCreated)
def register_user(body):
    outcome, token = engine().register_user(actor(), **body)
    return created(outcome, f"/users/{outcome.id}", token=token)


@blp.route("/me", methods=["GET"])
@blp.response(200, Me)
def me():
    """Who the bearer token belongs to."""
    who = actor()
    return {"user_id": who.user_id, "role": who.role, "organisation_id": who.organisation_id,
            "region_code": who.region_code}


class UserSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    state = ma.fields.String(required=True)
    state_label = Label("state", labels.USER_STATES)
    name = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    role_label = Label("role", labels.ROLES)
    organisation_id = ma.fields.UUID(allow_none=True)
    region_code = ma.fields.String(allow_none=True)


@blp.route("/<uuid:user_id>", methods=["GET"])
@blp.response(200, UserSchema, headers=ETAG_HEADER)
def read_user(user_id: UUID):
    """Read a user (never its tokens)."""
    user = engine().read(actor(), User, user_id)
    return {"id": user.id, "version": user.version, "state": user.state, "name": user.name,
            "role": user.role, "organisation_id": user.organisation_id,
            "region_code": user.region_code}, 200, etag(user.version)


@command(blp, "/<uuid:user_id>/tokens", NewToken, "Issue another token for a user (admin)",
         status=201, answer=TokenIssued, versioned=False)
def issue_token(body, user_id: UUID):
    token = engine().issue_token(actor(), user_id)
    return {"user_id": user_id, "token": token}, 201, {"Location": f"{API_PREFIX}/users/{user_id}"}


@command(blp, "/revoke-token", RevokeToken, "Revoke a token (its own user, or an admin over the user)",
         versioned=False)
def revoke_token(body):
    return done(engine().revoke_token(actor(), body["token"], body["reason"]))
