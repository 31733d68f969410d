"""The metrics module: one registry, bounded labels, every metric documented."""
from __future__ import annotations

from pathlib import Path

from ingest import metrics

ROOT = Path(__file__).resolve().parents[1]


def test_outcome_and_skip_kind_are_counted() -> None:
    before = metrics.value("bso_ingest_messages_total", {"outcome": "skipped"})
    kind_before = metrics.value("bso_ingest_skips_total", {"reason": "automated_bounce"})
    metrics.observe_outcome("skipped", "automated (bounce): delivery status notification")
    assert metrics.value("bso_ingest_messages_total", {"outcome": "skipped"}) == before + 1
    assert metrics.value("bso_ingest_skips_total", {"reason": "automated_bounce"}) == kind_before + 1


def test_reason_kind_is_a_small_label_not_the_reason() -> None:
    assert metrics.reason_kind("loop: 21 messages from a@b.example in 600s") == "loop"
    assert metrics.reason_kind("automated (auto_reply): Auto-Submitted: auto-replied") == "automated_auto_reply"
    assert metrics.reason_kind("<script>") == "other"
    assert len(metrics.reason_kind("a" * 500)) <= 40


def test_exposition_has_build_info_and_zeroed_outcomes() -> None:
    text, content_type = metrics.render()
    body = text.decode()
    assert content_type.startswith("text/plain")
    assert f'bso_ingest_build_info{{version="{metrics.VERSION}"}} 1.0' in body
    for outcome in metrics.OUTCOMES:
        assert f'bso_ingest_messages_total{{outcome="{outcome}"}}' in body
    assert "process_resident_memory_bytes" in body


def test_every_metric_is_in_the_runbook_table() -> None:
    runbook = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    names = {m.name for m in metrics.REGISTRY.collect() if m.name.startswith("bso_ingest_")}
    assert names, "no bso_ingest_ metric registered"
    # The table names counters with their exposed _total suffix.
    missing = [n for n in sorted(names) if f"`{n}" not in runbook]
    assert not missing, f"metrics missing from docs/OPERATIONS.md: {missing}"


def test_a_maildir_drain_sets_the_inbox_gauges_and_the_pickup_latency(tmp_path: Path) -> None:
    from ingest.outcomes import Created, Outcome
    from ingest.service import Service
    from ingest.settings import MaildirSettings
    from ingest.source import RawMessage
    from ingest.sources.maildir import MaildirSource

    source = MaildirSource(MaildirSettings(path=tmp_path / "inbox", seed_demo=True))
    count, oldest = source.inbox_status()
    assert count == 4 and oldest is not None

    class Keep:
        """Files nothing: every message stays, so the gauges must still count them."""

        def process(self, msg: RawMessage) -> Outcome:
            assert msg.received_at is not None
            return Created(ticket_id=1)

    before = metrics.value("bso_ingest_pickup_latency_seconds_count")
    service = Service(source, Keep(), file_mail=False)
    service.poll_once()
    assert metrics.value("bso_ingest_inbox_backlog") == 4
    assert metrics.value("bso_ingest_inbox_oldest_age_seconds") >= 0
    assert metrics.value("bso_ingest_pickup_latency_seconds_count") == before + 4
    assert metrics.value("bso_ingest_last_successful_poll_timestamp_seconds") > 0
