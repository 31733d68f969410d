"""Invalid routing rules fail at startup with one clear line per problem (exit code 2)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest.cli import main
from ingest.settings import SettingsError, load_settings

RULE = '[[routing.rules]]\nname = "{name}"\nwhen = {when}\nset = {set}\n'


def problems(tmp_path: Path, toml: str) -> list[str]:
    path = tmp_path / "settings.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as exc:
        load_settings(path, environ={})
    return exc.value.problems


def rule(name: str = "RM", when: str = '{ product = "RM" }', set: str = "{ group_id = 200 }") -> str:
    return RULE.format(name=name, when=when, set=set)


def test_example_rules_load(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[routing.organizations]\n"Exemplo.com.br" = "T1"\n'
        + rule(when='{ product = ["RM"], bso = true, impact = "critical", subject_contains = "nota" }'),
        encoding="utf-8",
    )
    routing = load_settings(path, environ={}).routing
    assert routing.rules[0].when == {"product": ["RM"], "bso": [True], "impact": ["critical"],
                                     "subject_contains": ["nota"]}
    assert routing.organizations == {"exemplo.com.br": "T1"}


def test_unknown_condition_key(tmp_path: Path) -> None:
    found = problems(tmp_path, rule(when='{ produto = "RM" }'))
    assert len(found) == 1
    assert found[0].startswith("routing.rules.0.when: ")
    assert "unknown condition 'produto'" in found[0]


def test_wrong_value_kinds(tmp_path: Path) -> None:
    found = problems(tmp_path, rule(when='{ bso = "sim", impact = "urgente", module = [] }'))
    text = "\n".join(found)
    assert "condition 'bso' takes true or false, got 'sim'" in text
    assert "condition 'impact': 'urgente' is not one of" in text
    assert "condition 'module' has an empty list" in text


def test_bad_priority_in_rule_and_in_impact_table(tmp_path: Path) -> None:
    found = problems(tmp_path, '[routing.priority_by_impact]\ncritical = "asap"\nurgente = "high"\n'
                     + rule(set='{ priority = "highest" }'))
    text = "\n".join(found)
    assert "routing.rules.0.set.priority" in text and "'highest'" in text
    assert "routing.priority_by_impact.critical" in text and "'asap'" in text


def test_unknown_impact_in_priority_table(tmp_path: Path) -> None:
    found = problems(tmp_path, '[routing.priority_by_impact]\nurgente = "high"\n')
    assert any("unknown impact 'urgente'" in p for p in found)


def test_duplicate_rule_name(tmp_path: Path) -> None:
    # Names that give the same tag (rule_rm_folha) are duplicates too.
    found = problems(tmp_path, rule(name="RM Folha") + rule(name="rm  folha"))
    assert len(found) == 1
    assert "duplicate rule name 'rm  folha'" in found[0]


def test_unknown_set_key(tmp_path: Path) -> None:
    found = problems(tmp_path, rule(set="{ grupo = 5 }"))
    assert found == ["routing.rules.0.set.grupo: unknown setting"]


def test_unknown_custom_field(tmp_path: Path) -> None:
    found = problems(tmp_path, '[zendesk.custom_fields]\nproduct = 11\n'
                     + rule(set='{ custom_fields = { product = "RM", segmento = "x" } }'))
    assert found == [
        "routing.rules.0.set.custom_fields.segmento: unknown custom field 'segmento' in rule 'RM': "
        "add it to [zendesk.custom_fields] with its Zendesk field id (got 'segmento')"
    ]


def test_unknown_required_field(tmp_path: Path) -> None:
    found = problems(tmp_path, '[routing]\nrequired_fields = ["organization", "produto"]\n')
    assert len(found) == 1 and "unknown portal field 'produto'" in found[0]


def test_cli_exits_2_and_lists_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(rule(when='{ produto = "RM" }'), encoding="utf-8")
    assert main(["--config", str(path), "route", "x.eml"]) == 2
    assert "unknown condition 'produto'" in capsys.readouterr().err
