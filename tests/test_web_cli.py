"""``cobuild users add --login``, ``users give-login`` and ``users reset``: the operator hands
out activation codes, once each, and nothing secret is left in the data folder in clear."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli.main import cli
from domain.errors import DomainError
from workflows.store.settings import Settings
from workflows.engine import open_engine
from workflows.organisations import BOOTSTRAP_ADMIN_ID

PASSWORD = "石练村2025春"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("COBUILD_HOME", str(tmp_path / "var"))
    monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    monkeypatch.delenv("COBUILD_BOOTSTRAP_TOKEN", raising=False)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result

    return invoke


def code_in(output: str) -> str:
    lines = output.splitlines()
    return lines[[i for i, line in enumerate(lines) if "activation code" in line][0] + 1]


def test_users_add_with_a_login_prints_the_activation_code_once(run, tmp_path):
    run("init")
    run("orgs", "add", "--code", "V1", "--name", "大柘镇石练村党支部", "--kind", "village",
        "--region-code", "331123101201")
    added = run("users", "add", "--name", "李支书", "--role", "village", "--organisation", "V1",
                "--login", "LiZS")
    code = code_in(added.output)
    assert "login lizs" in added.output and "/activate" in added.output
    again = run("users", "add", "--name", "李支书二", "--role", "village", "--organisation", "V1",
                "--login", "lizs", ok=False)
    assert "already taken" in again.output

    engine = open_engine(Settings(home=tmp_path / "var"))
    try:
        engine.activate_account("lizs", code, PASSWORD)
        assert engine.sign_in("lizs", PASSWORD).name == "李支书"
    finally:
        engine.close()

    reset = run("users", "reset", "--login", "lizs", "--reason", "本人忘记密码")
    new_code = code_in(reset.output)
    assert new_code != code
    engine = open_engine(Settings(home=tmp_path / "var"))
    try:
        engine.activate_account("lizs", new_code, "新密码2025夏天")
    finally:
        engine.close()
    for path in (tmp_path / "var").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (code, new_code, code.replace("-", ""), PASSWORD.encode(),
                           "新密码2025夏天".encode()):
                needle = secret.encode() if isinstance(secret, str) else secret
                assert needle not in data, f"{secret!r} in clear in {path}"


def test_the_first_admin_signs_in_with_the_code_init_printed_or_a_new_one(run, tmp_path):
    printed = code_in(run("init").output)  # init gives the first admin the login "admin"
    renewed = code_in(run("users", "reset", "--login", "admin", "--reason", "激活码遗失").output)
    engine = open_engine(Settings(home=tmp_path / "var"))
    try:
        with pytest.raises(DomainError):  # a reset replaces the lost code
            engine.activate_account("admin", printed, "组织部管理员2025")
        engine.activate_account("admin", renewed, "组织部管理员2025")
        signed = engine.sign_in("admin", "组织部管理员2025")
        assert signed.actor.role == "admin" and signed.actor.user_id == str(BOOTSTRAP_ADMIN_ID)
    finally:
        engine.close()
    taken = run("users", "give-login", "--login", "admin2", ok=False)  # one login per user
    assert taken.exit_code != 0
