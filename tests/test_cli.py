"""The ``cobuild`` command line, run in-process on a real data folder."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli.main import cli
from domain.errors import DomainError
from workflows.store.settings import Settings
from workflows.engine import open_engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("COBUILD_HOME", str(tmp_path / "var"))
    monkeypatch.delenv("COBUILD_DATABASE_URL", raising=False)
    monkeypatch.delenv("COBUILD_BOOTSTRAP_TOKEN", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def event_count(tmp_path) -> int:
    engine = open_engine(Settings(home=tmp_path / "var"))
    try:
        return engine.recorder.max_notification_id() or 0
    finally:
        engine.close()


def test_init_prints_the_first_admins_token_and_activation_code_once_and_keeps_neither(run, tmp_path):
    from tests.test_trust_server import secrets_at_rest

    first = run("init")
    assert first.exit_code == 0
    lines = first.output.strip().splitlines()
    token = lines[lines.index("First admin token (shown once, keep it safe):") + 1]
    code = lines[lines.index("login admin; activation code (shown once, valid 14 days):") + 1]
    assert len(token) >= 32
    second = run("init")
    assert second.exit_code == 0 and token not in second.output and code not in second.output
    assert "already initialised" in second.output
    assert secrets_at_rest(tmp_path / "var", token, code) == []
    engine = open_engine(Settings(home=tmp_path / "var"))
    try:
        assert engine.authenticate(token).role == "admin"
        engine.activate_account("admin", code, "县委组织部2025春")  # the code works once
        with pytest.raises(DomainError):
            engine.activate_account("admin", code, "另一个密码2025")
        assert engine.sign_in("admin", "县委组织部2025春").name == "初始管理员"
    finally:
        engine.close()


def test_init_honours_the_bootstrap_token(run, tmp_path, monkeypatch):
    monkeypatch.setenv("COBUILD_BOOTSTRAP_TOKEN", "automation-token-0123456789")
    assert run("init").exit_code == 0
    engine = open_engine(Settings(home=tmp_path / "var"))
    assert engine.authenticate("automation-token-0123456789").role == "admin"
    engine.close()


def test_orgs_add_and_users_add(run):
    run("init")
    added = run("orgs", "add", "--code", "V9", "--name", "石练村党支部", "--kind", "village",
                "--region-code", "331123101201", "--income-year", "2024", "--income", "26000")
    assert added.exit_code == 0
    user = run("users", "add", "--name", "李支书", "--role", "village", "--organisation", "V9")
    assert user.exit_code == 0 and "token" in user.output


def test_bad_input_is_one_line_non_zero_and_writes_nothing(run, tmp_path):
    run("init")
    before = event_count(tmp_path)
    bad = run("orgs", "add", "--code", "V9", "--name", "某村", "--kind", "castle",
              "--region-code", "331123101201")
    assert bad.exit_code == 1
    assert bad.output.startswith("cobuild: kind:") and bad.output.count("\n") == 1
    bad = run("orgs", "add", "--code", "V9", "--name", "某村", "--kind", "village",
              "--region-code", "3311")
    assert bad.exit_code == 1 and "region_code" in bad.output
    bad = run("orgs", "add", "--code", "V9", "--name", "某村", "--kind", "village",
              "--region-code", "３３１１２３１０１２０１")  # full-width digits
    assert bad.exit_code == 1 and "region_code" in bad.output
    bad = run("users", "add", "--name", "x", "--role", "village", "--organisation", "NOPE")
    assert bad.exit_code == 1 and "no organisation" in bad.output
    assert event_count(tmp_path) == before


def test_import_reports_every_bad_row_and_imports_none(run, tmp_path):
    run("init")
    before = event_count(tmp_path)
    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text("code,name,kind,region_code\nA1,县委办,agency,331123000000\n"
                        "A2,县委宣传部,agency,33112300\nA3,,village,331123101201\n", encoding="utf-8")
    result = run("orgs", "import", str(csv_file))
    assert result.exit_code == 1
    assert "line 3: region_code" in result.output and "line 4: name" in result.output
    assert event_count(tmp_path) == before
    csv_file.write_text("code,name,kind,region_code\nA1,县委办,agency,331123000000\n", encoding="utf-8")
    assert run("orgs", "import", str(csv_file)).output.strip() == "imported 1 organisations"


def test_import_names_divisions_from_a_region_file_with_the_organisations_or_alone(run, tmp_path):
    run("init")
    before = event_count(tmp_path)
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("code,name,kind,region_code\nV1,城关镇东门村党支部,village,331123101201\n",
                    encoding="utf-8")
    regions = tmp_path / "regions.csv"
    regions.write_text("区划代码,名称\n331123,遂昌县\n331123101,Chengguan\n", encoding="utf-8")
    bad = run("orgs", "import", str(orgs), "--regions", str(regions))
    assert bad.exit_code == 1 and "line 3: name" in bad.output
    assert event_count(tmp_path) == before  # neither file's rows were written
    regions.write_text("区划代码,名称\n331123,遂昌县\n331123101000,城关镇\n", encoding="utf-8")
    done = run("orgs", "import", str(orgs), "--regions", str(regions))
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == ["named 2 divisions (0 already so named)",
                                        "imported 1 organisations"]
    again = run("orgs", "import", "--regions", str(regions))
    assert again.output.strip() == "named 0 divisions (2 already so named)"
    assert event_count(tmp_path) == before + 3
    nothing = run("orgs", "import")
    assert nothing.exit_code == 1 and nothing.output.count("\n") == 1


def test_import_refuses_a_file_that_is_not_utf8(run, tmp_path):
    run("init")
    csv_file = tmp_path / "gbk.csv"
    csv_file.write_bytes("code,name,kind,region_code\nA1,县委办,agency,331123000000\n".encode("gbk"))
    result = run("orgs", "import", str(csv_file))
    assert result.exit_code == 1 and "UTF-8" in result.output


def test_domain_imports_no_framework_io_or_clock():
    forbidden = {"workflows", "projections", "api", "flask", "kombu", "sqlite3", "psycopg",
                 "os", "io", "socket", "time", "random", "pathlib", "requests", "urllib"}
    for path in (ROOT / "domain").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                if isinstance(node, ast.Attribute) and node.attr in ("now", "today", "utcnow"):
                    pytest.fail(f"{path.name} reads the clock: .{node.attr}")
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_an_operator_gets_the_first_admin_back_in_with_a_new_token(run, tmp_path):
    lines = run("init").output.splitlines()
    first = lines[lines.index("First admin token (shown once, keep it safe):") + 1]
    issued = run("users", "token")
    assert issued.exit_code == 0
    token = issued.output.strip().splitlines()[-1]
    assert token != first
    engine = open_engine(Settings(home=tmp_path / "var"))
    try:
        assert engine.authenticate(token).role == "admin"
        assert engine.authenticate(first).role == "admin"  # the lost one is revoked separately
    finally:
        engine.close()
    bad = run("users", "token", "not-an-id")
    assert bad.exit_code == 1 and "not a user id" in bad.output


def test_a_report_reads_the_same_from_the_command_line_and_the_api(run, tmp_path):
    """One query service answers both: the same rows, scoped alike for a country admin."""
    import json

    from api.http.app import create_app
    from api.root import Root
    from tests.api_support import JsonClient

    lines = run("init").output.splitlines()
    token = lines[lines.index("First admin token (shown once, keep it safe):") + 1]
    assert run("demo").exit_code == 0
    for name in ("pairings", "commitments", "coverage", "evaluation"):
        printed = run("report", name, "--as-of", "2025-12-31", "--format", "json", "--limit", "1000")
        assert printed.exit_code == 0, printed.output
        root = Root(Settings(home=tmp_path / "var"))
        try:
            limit = "" if name in ("coverage", "evaluation") else "&limit=1000"
            answered = JsonClient(create_app(root).test_client()).get(
                f"/api/v1/reports/{name}?as_of=2025-12-31{limit}", token)
        finally:
            root.close()
        assert answered.status == 200, answered.content
        assert json.loads(printed.output)["items"] == answered.json["items"], name
