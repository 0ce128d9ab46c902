"""Sign-in for people: 登录, 激活账号, 退出登录, 修改密码 (docs/web.md; trust rules in docs/decisions.md).

The session is Flask's signed cookie holding the user's id and the credentials version it
was opened under.  Every request checks both against the engine (one read of the user), so
deactivating the user, an admin's reset or a password change ends every session at once.
Failed sign-ins and activations are throttled per login and address (429).  Whether a login
exists is never told: every refusal reads the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable
from urllib.parse import urlsplit
from uuid import UUID

from flask import (
    Flask, Response, abort, current_app, g, redirect, render_template, request, session, url_for,
)
from werkzeug.exceptions import HTTPException

from api.web.blueprint import blueprint
from api.web.security import (
    CSRF_FIELD, SESSION_COOKIE, SessionCookies, Throttle, csrf_ok, csrf_token, secret_key,
    secure_headers,
)
from domain.errors import DomainError, InvalidValue, NotPermitted
from domain.labels import ROLES
from domain.organisation import Organisation
from domain.user import User, normalise_login
from workflows.errors import Forbidden, NotFound, Unauthenticated

SESSION_LIFETIME = timedelta(hours=12)  # idle time after which a phone must sign in again
WRONG_LOGIN = "登录名或密码不正确"
WRONG_CODE = "登录名或激活码不正确"
# The domain's password rules, in the words a person reads beside the field.
PASSWORD_WORDS = (
    ("must be at least", "密码至少 8 位"),
    ("must be at most", "密码最多 128 位"),
    ("must use at least", "密码太简单：至少要有 4 种不同的字符"),
    ("must not contain the login", "密码不能包含登录名"),
    ("must differ", "新密码不能与当前密码相同"),
)


@dataclass
class WebState:
    # Per login and address: a person mistyping; per address: one machine trying many logins.
    per_login: Throttle = field(default_factory=Throttle)
    per_address: Throttle = field(default_factory=lambda: Throttle(limit=50))


@blueprint.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    app.secret_key = secret_key(app.extensions["cobuild"].settings.home)
    app.session_interface = SessionCookies()
    app.config.update(SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    app.extensions["cobuild.web"] = WebState()
    _pages_for_unknown_addresses(app)


def _pages_for_unknown_addresses(app: Flask) -> None:
    """An address no route knows answers a Chinese page, except under /api, where the
    JSON API's own problem+json answer stays.  Routing errors belong to no blueprint, so
    this is the app's handler for those codes, handing /api requests to the handler the
    JSON API registered (found, not imported: the entry points stay apart)."""
    api_handler = app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)

    def answer(error: HTTPException) -> Any:
        if request.path == "/api" or request.path.startswith("/api/"):
            return api_handler(error) if api_handler is not None else error
        return _http_page(error)

    for code in (404, 405):
        app.register_error_handler(code, answer)


def engine() -> Any:
    return current_app.extensions["cobuild"].engine


def web_state() -> WebState:
    return current_app.extensions["cobuild.web"]


# -- every page request -------------------------------------------------------------------------

@blueprint.before_request
def _who_and_csrf() -> None:
    g.actor = g.user = None
    user_id, version = session.get("uid"), session.get("v")
    if user_id is not None:
        try:
            g.actor, g.user = engine().session_user(UUID(user_id), int(str(version)))
        except (Unauthenticated, ValueError, TypeError):
            # Deactivated, reset or password changed elsewhere: this session is over.
            session.pop("uid", None)
            session.pop("v", None)
            g.session_ended = True
    if request.method == "POST" and not csrf_ok(request):
        abort(400, description="csrf")


blueprint.after_request(secure_headers)


@blueprint.app_context_processor
def _page_context() -> dict[str, Any]:
    return {"csrf_field": CSRF_FIELD, "csrf_token": csrf_token, "person": person_card()}


def person_card() -> dict[str, str] | None:
    user = g.get("user")
    if user is None:
        return None
    where = ""
    if user.organisation_id is not None:
        try:
            where = engine().load(Organisation, user.organisation_id).name
        except NotFound:
            where = ""
    return {"name": user.name, "role": ROLES.get(user.role, user.role), "where": where}


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages for signed-in people: anyone else is sent to 登录 and brought back after."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("actor") is None:
            # A session that just ended (deactivated, reset, password changed elsewhere)
            # says so on the sign-in page, so the person knows why they are asked again.
            done: dict[str, Any] = {"done": "expired"} if g.get("session_ended") else {}
            return redirect(url_for("web.login", next=request.full_path.rstrip("?"), **done))
        return view(*args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _local_path(target: str | None) -> str | None:
    """Only a path on this site is a place to go back to (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _too_many(key: str) -> Response | None:
    state = web_state()
    address = request.remote_addr or "-"
    wait = max(state.per_login.retry_after(key), state.per_address.retry_after(address))
    if not wait:
        return None
    minutes = max(1, (wait + 59) // 60)
    response = Response(render_template("error.html", title="尝试次数过多",
                                        message=f"输错次数太多，请 {minutes} 分钟后再试。"
                                                "如果忘记了密码，请联系管理员重置。"), 429)
    response.headers["Retry-After"] = str(wait)
    return response


def _failed(key: str) -> None:
    state = web_state()
    state.per_login.failed(key)
    state.per_address.failed(request.remote_addr or "-")


def _throttle_key(kind: str, login: str) -> str:
    try:
        login = normalise_login(login)
    except InvalidValue:
        login = login.strip().lower()[:64]
    return f"{kind}|{login}|{request.remote_addr or '-'}"


def _start_session(user_id: str, version: int) -> None:
    session.clear()  # a fresh session and CSRF token for the signed-in person
    session.permanent = True
    session["uid"] = user_id
    session["v"] = version
    csrf_token()


# -- pages ---------------------------------------------------------------------------------------

@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    notice = {"activated": "密码已设置，请用新密码登录。", "signed-out": "你已退出登录。",
              "expired": "登录已失效，请重新登录。"}.get(request.args.get("done", ""))
    if g.get("session_ended") and not notice:
        notice = "登录已失效，请重新登录。"
    if request.method == "GET":
        if g.actor is not None:
            return redirect(url_for("web.todo"))
        return render_template("login.html", notice=notice, login="", error=None)
    login_name = request.form.get("login", "")[:100]
    key = _throttle_key("sign-in", login_name)
    refused = _too_many(key)
    if refused is not None:
        return refused
    try:
        who = engine().sign_in(login_name, request.form.get("password", "")[:200])
    except Unauthenticated:
        _failed(key)
        return render_template("login.html", notice=None, login=login_name, error=WRONG_LOGIN)
    web_state().per_login.succeeded(key)
    _start_session(who.actor.user_id, who.credentials_version)
    return redirect(_local_path(request.args.get("next")) or url_for("web.todo"))


@blueprint.route("/activate", methods=["GET", "POST"])
def activate() -> Any:
    """The person sets a password with the one-time activation code from the admin."""
    form = {"login": request.values.get("login", "")[:100]}
    if request.method == "GET":
        return render_template("activate.html", form=form, errors={})
    key = _throttle_key("activate", form["login"])
    refused = _too_many(key)
    if refused is not None:
        return refused
    code = request.form.get("code", "")[:100]
    password = request.form.get("password", "")[:200]
    errors: dict[str, str] = {}
    if not form["login"].strip():
        errors["login"] = "请填写登录名"
    if not code.strip():
        errors["code"] = "请填写管理员给你的激活码"
    if not password:
        errors["password"] = "请设置密码"
    elif password != request.form.get("password2", ""):
        errors["password2"] = "两次输入的密码不一致"
    if not errors:
        try:
            engine().activate_account(form["login"], code, password)
        except NotPermitted as refusal:
            _failed(key)
            if refusal.rule == "activation-expired":
                errors["code"] = "激活码已过期，请联系管理员重新获取"
            else:
                errors["code"] = WRONG_CODE
        except InvalidValue as invalid:
            if invalid.field == "password":
                errors["password"] = password_words(invalid)
            else:
                _failed(key)
                errors["code"] = WRONG_CODE  # a malformed login reads like any wrong one
    if errors:
        return render_template("activate.html", form=form, errors=errors), 200
    web_state().per_login.succeeded(key)
    return redirect(url_for("web.login", done="activated"))


def password_words(invalid: InvalidValue) -> str:
    for start, words in PASSWORD_WORDS:
        if start in invalid.message:
            return words
    return "密码不符合要求"


@blueprint.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("web.login", done="signed-out"))


@blueprint.route("/password", methods=["GET", "POST"])
@signed_in
def password() -> Any:
    """修改密码: every other session of the person ends; this one goes on."""
    if request.method == "GET":
        return render_template("password.html", errors={})
    old = request.form.get("old_password", "")[:200]
    new = request.form.get("password", "")[:200]
    errors: dict[str, str] = {}
    if not old:
        errors["old_password"] = "请填写当前密码"
    if not new:
        errors["password"] = "请填写新密码"
    elif new != request.form.get("password2", ""):
        errors["password2"] = "两次输入的新密码不一致"
    if not errors:
        try:
            outcome = engine().change_password(g.actor, old, new)
        except NotPermitted:
            errors["old_password"] = "当前密码不正确"
        except InvalidValue as invalid:
            errors["password"] = password_words(invalid)
        else:
            _start_session(g.actor.user_id, engine().load(User, outcome.id).credentials_version)
            return render_template("password.html", errors={}, done=True)
    return render_template("password.html", errors=errors)


# -- refusals as pages ------------------------------------------------------------------------

HTTP_WORDS = {
    400: ("请求无效", "页面已过期或表单不完整。请返回上一页，刷新后再试。"),
    403: ("无权查看", "这一页不属于你的组织或地区。"),
    404: ("页面不存在", "找不到这一页。请从「待办」重新进入。"),
    405: ("操作无效", "请从页面上的按钮操作。"),
    413: ("内容过大", "提交的内容太大，请减少后再试。"),
    429: ("尝试次数过多", "请稍后再试。"),
}


@blueprint.errorhandler(HTTPException)
def _http_page(error: HTTPException) -> Any:
    code = error.code or 500
    title, message = HTTP_WORDS.get(code, ("出错了", "请稍后再试。"))
    if code == 400 and error.description == "csrf":
        title, message = "页面已过期", "为了安全，请刷新页面后再提交一次。"
    return render_template("error.html", title=title, message=message), code


@blueprint.errorhandler(Forbidden)
def _forbidden_page(error: Forbidden) -> Any:
    title, message = HTTP_WORDS[403]
    return render_template("error.html", title=title, message=message), 403


@blueprint.errorhandler(NotFound)
def _not_found_page(error: NotFound) -> Any:
    title, message = HTTP_WORDS[404]
    return render_template("error.html", title=title, message=message), 404


@blueprint.errorhandler(DomainError)
def _refused_page(error: DomainError) -> Any:
    return render_template("error.html", title="无法办理",
                           message="这项操作现在不能办理，请刷新页面查看最新情况。"), 409


@blueprint.errorhandler(Exception)
def _unexpected_page(error: Exception) -> Any:
    # The cause goes to the server's log (never to the page): the person gets words.
    current_app.logger.exception("page failed: %s %s", request.method, request.path)
    return render_template("error.html", title="系统出错",
                           message="系统暂时出错，请稍后再试。问题已记录。"), 500
