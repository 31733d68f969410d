"""deploy/alerts.yml: valid Prometheus rules (promtool when installed) that use only metrics we export."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ingest import metrics

RULES = Path(__file__).resolve().parents[1] / "deploy" / "alerts.yml"
METRIC = re.compile(r"\bbso_ingest_[a-z_]+\b")


def exported() -> set[str]:
    """Every sample name the registry can expose (counters as _total, histograms as _bucket/_sum/_count)."""
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "info":
            names.add(f"{family.name}_info")
    return names


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_metric_an_alert_uses_is_exported() -> None:
    known = exported()
    used = {name for rule in rules() for name in METRIC.findall(rule["expr"])}
    assert used, "no bso_ingest_ metric in the rules"
    assert used <= known, f"alerts use metrics nobody exports: {sorted(used - known)}"


def test_the_issue_s_alerts_are_there_with_runbook_text() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    wanted = {
        "BsoIngestZendeskCircuitOpen": "bso_ingest_zendesk_circuit_open",
        "BsoIngestQuarantineGrowing": "bso_ingest_quarantine_size",
        "BsoIngestInboxStale": "bso_ingest_inbox_oldest_age_seconds",
        "BsoIngestAuthFailures": "bso_ingest_auth_failures_total",
        "BsoIngestNoSuccessfulPoll": "bso_ingest_last_successful_poll_timestamp_seconds",
    }
    runbook = (RULES.parents[1] / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    for alert, metric in wanted.items():
        assert metric in by_name[alert]["expr"], alert
        assert by_name[alert]["annotations"]["summary"], alert
        assert alert in runbook, f"{alert} has no runbook entry in docs/OPERATIONS.md"


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus; scripts/test does it)")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
