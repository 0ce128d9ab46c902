"""Settings: which database and broker a process uses, from its environment."""
from __future__ import annotations

from pathlib import Path

import pytest

from workflows.store.settings import ConfigurationError, Settings


def test_a_postgresql_url_selects_eventsourcing_postgres():
    s = Settings.from_env({"COBUILD_HOME": "/srv/cobuild",
                           "COBUILD_DATABASE_URL": "postgresql://app:p%40ss@db.internal:6543/cobuild"})
    env = s.eventsourcing_env()
    assert s.is_postgres and not s.is_sqlite
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.internal", "6543", "cobuild")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("app", "p@ss")
    assert env["CREATE_TABLE"] == "y"


def test_processes_that_start_side_by_side_do_not_create_tables():
    s = Settings(home=Path("/srv/cobuild"), database_url="postgresql://a:b@h/db", create_tables=False)
    assert s.eventsourcing_env()["CREATE_TABLE"] == "n"


@pytest.mark.parametrize("url, complaint", [
    ("postgresql://h", "database name"),
    ("postgresql://a:b@h/db?sslmode=require", "PGSSLMODE"),
    ("mysql://a:b@h/db", "postgresql://"),
])
def test_database_urls_that_would_be_misread_are_refused(url, complaint):
    with pytest.raises(ConfigurationError, match=complaint):
        Settings(home=Path("/srv"), database_url=url).eventsourcing_env()


def test_the_default_is_sqlite_in_the_data_folder(tmp_path):
    s = Settings.from_env({"COBUILD_HOME": str(tmp_path)})
    env = s.eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "events.sqlite")
    assert s.effective_broker_url == "filesystem://"


def test_the_filesystem_broker_lives_in_the_data_folder(tmp_path):
    s = Settings(home=tmp_path / "var")
    s.ensure_home()
    options = s.broker_transport_options()
    assert options["data_folder_in"] == options["data_folder_out"] == str(tmp_path / "var" / "broker")
    assert Path(options["control_folder"]).is_dir()


def test_rabbitmq_publishes_with_confirms():
    s = Settings(home=Path("/srv"), broker_url="amqp://guest:guest@127.0.0.1:5672//")
    assert s.broker_transport_options() == {"confirm_publish": True}


def test_an_unknown_broker_is_refused():
    with pytest.raises(ConfigurationError, match="COBUILD_BROKER_URL"):
        _ = Settings(home=Path("/srv"), broker_url="kafka://h:9092").effective_broker_url


def test_environ_gives_a_child_process_the_same_settings(tmp_path):
    s = Settings(home=tmp_path, database_url="postgresql://a:b@h/db", broker_url="amqp://h//")
    again = Settings.from_env(s.environ())
    assert (again.home, again.database_url, again.broker_url) == (s.home, s.database_url, s.broker_url)


def test_the_log_origin_and_first_token_are_settings_read_once():
    s = Settings.from_env({"COBUILD_HOME": "/srv/cobuild", "COBUILD_AUDIT_ORIGIN": "zj.example/log",
                           "COBUILD_BOOTSTRAP_TOKEN": "first-token"})
    assert (s.audit_origin, s.bootstrap_token) == ("zj.example/log", "first-token")
    again = Settings.from_env(s.environ())
    # The origin travels to the processes started with these settings; the first admin's
    # token is a secret for the first start only and does not.
    assert (again.audit_origin, again.bootstrap_token) == ("zj.example/log", None)


def test_the_api_signs_with_the_origin_of_its_settings(settings, engine):
    """The HTTP API's checkpoints name the log as the settings say (COBUILD_AUDIT_ORIGIN),
    as `cobuild audit checkpoint` does."""
    from dataclasses import replace

    from api.http.app import create_app
    from api.root import Root
    from tests.api_support import JsonClient, TokenCast

    cast = TokenCast.create(engine)
    http = JsonClient(create_app(Root(replace(settings, audit_origin="zj.example/log"),
                                      engine)).test_client())
    key = http.get("/api/v1/audit/vkey", cast.tokens["evaluator"])
    assert key.status == 200 and key.content.decode().startswith("zj.example/log+")
    note = http.get("/api/v1/audit/checkpoint", cast.tokens["evaluator"]).content.decode()
    assert note.splitlines()[0] == "zj.example/log"
