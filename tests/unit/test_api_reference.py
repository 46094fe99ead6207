"""docs/api.md is what the typed models generate, and it says what the models say."""

import json
import re

import pytest
from pydantic_core import PydanticUndefined

from ballast.api.kinds import ALL_KINDS
from ballast.api.reference import is_stale, main, render_reference
from tests.support.kube import REPO

API_MD = REPO / "docs" / "api.md"
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


@pytest.fixture(scope="module")
def reference() -> str:
    return render_reference()


def _section(reference: str, kind: str) -> str:
    return reference.split(f"\n## {kind}\n", 1)[1].split("\n## ", 1)[0]


def _rows(section: str) -> dict[str, list[str]]:
    """Field path to the cells of its row, from the field tables of one kind's section."""
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in CELL_SEPARATOR.split(line)[1:-1]]
        if len(cells) == 5 and cells[0].startswith(("`spec.", "`status.")):
            rows[cells[0].strip("`")] = cells
    return rows


def test_committed_reference_is_current():
    assert not is_stale(API_MD), "docs/api.md is stale: run `make crds` and commit the result"


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "api.md"
    stale.write_text("# hand-edited\n")
    assert main(["--check", str(stale)]) == 1
    assert "make crds" in capsys.readouterr().err
    assert main([str(stale)]) == 0 and main(["--check", str(stale)]) == 0


def test_rendering_is_deterministic_and_says_how_it_was_made(reference):
    assert reference == render_reference()
    first_line = reference.splitlines()[0]
    assert "Generated" in first_line and "make crds" in first_line and "ballast.api.reference" in first_line


def test_every_table_row_has_as_many_cells_as_its_header(reference):
    """An unescaped | in a pattern or a CEL-ish description would shift every cell after it."""
    expected = None
    for line in reference.splitlines():
        if not line.startswith("|"):
            expected = None
            continue
        cells = len(CELL_SEPARATOR.split(line)) - 2
        expected = expected or cells
        assert cells == expected, line


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda kind: kind.kind)
def test_every_top_level_field_appears_with_its_default_and_requiredness(kind, reference):
    rows = _rows(_section(reference, kind.kind))
    for prefix, model in (("spec", kind.spec_model), ("status", kind.status_model)):
        for name, info in model.model_fields.items():
            path = f"{prefix}.{info.alias or name}"
            assert path in rows, f"{kind.kind}: {path} is missing"
            _, _, default, required, _ = rows[path]
            if prefix == "spec":
                assert required == ("yes" if info.is_required() else "no"), path
            if info.default not in (None, PydanticUndefined):
                spelled = info.default if isinstance(info.default, str) and info.default else json.dumps(info.default)
                assert default == f"`{spelled}`", path


def test_nested_fields_constraints_and_docstrings(reference):
    dataset = _rows(_section(reference, "Dataset"))
    assert dataset["spec.versionHistoryLimit"][2:4] == ["`10`", "no"]
    assert "How many versions status keeps.<br>At least 1; at most 100." == dataset["spec.versionHistoryLimit"][4]
    assert "One of `csv`, `parquet`." in dataset["spec.format"][4]
    assert "unique by `name`" in dataset["spec.schema.columns"][4]
    assert dataset["spec.schema.columns[].nullable"][2] == "`false`"
    assert "unique by `type`" in dataset["status.conditions"][4]
    training = _rows(_section(reference, "TrainingRun"))
    assert training["spec.evaluation.testFraction"][2] == "`0.2`"
    assert "held out for testing" in training["spec.evaluation.testFraction"][4]
    assert "Greater than 0; less than 1." in training["spec.evaluation.testFraction"][4]
    policy = _rows(_section(reference, "DriftPolicy"))
    assert policy["spec.action.retrain.maxPerDay"][2] == "`3`"
    # the retrain template's spec is a TrainingRun spec: linked, not repeated
    assert "[TrainingRun `spec`](#trainingrun-spec)" in policy["spec.action.retrain.template.spec"][4]
    # the duration pattern holds |, escaped so that GitHub keeps it inside its cell
    assert r"`^([0-9]+(ms\|s\|m\|h))+$`" in policy["spec.interval"][4]


def _validation_messages(schema):
    if isinstance(schema, dict):
        for rule in schema.get("x-kubernetes-validations", ()):
            yield rule["message"]
        for value in schema.values():
            yield from _validation_messages(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _validation_messages(item)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda kind: kind.kind)
def test_every_cel_message_of_the_models_is_listed_under_its_kind(kind, reference):
    rules = _section(reference, kind.kind).split("### Cross-field rules", 1)[1]
    messages = set(_validation_messages(kind.spec_model.model_json_schema(by_alias=True)))
    assert messages, kind.kind
    for message in messages:
        assert f": {message}\n" in rules, f"{kind.kind}: {message!r} is missing"


def test_printer_columns_and_short_names_are_in_each_intro(reference):
    for kind in ALL_KINDS:
        section = _section(reference, kind.kind)
        for name in kind.short_names:
            assert f"`{name}`" in section
        for column in kind.columns:
            assert f"`{column.json_path}`" in section
