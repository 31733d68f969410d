"""The Maildir source against real directories: seeding, filing, requeue."""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import AckError
from ingest.outcomes import Created, Deferred, Quarantined, Skipped
from ingest.settings import MaildirSettings
from ingest.sources.maildir import MaildirSource, demo_messages

MAIL = (
    b"From: Ana <ana@example.com>\r\nTo: suporte@example.com\r\nSubject: %s\r\n"
    b"Message-ID: <%s@example.com>\r\n\r\nCorpo.\r\n"
)


def message(n: int) -> bytes:
    return MAIL % (f"Pedido {n}".encode(), str(n).encode())


def source_at(path: Path, seed: bool = False) -> MaildirSource:
    return MaildirSource(MaildirSettings(path=path, seed_demo=seed))


def test_missing_inbox_is_seeded_with_the_demo_messages(tmp_path: Path) -> None:
    source = source_at(tmp_path / "inbox", seed=True)
    fetched = sorted(msg.raw for msg in source.fetch())
    assert fetched == sorted(raw for _name, raw in demo_messages())
    assert len(fetched) >= 3


def test_existing_inbox_is_never_seeded(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    assert list(source_at(tmp_path / "inbox", seed=True).fetch()) == []


def test_ack_files_each_outcome_in_its_folder_atomically(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    source = source_at(inbox)
    for n in range(3):
        source._box.add(message(n))
    msgs = {msg.raw: msg for msg in source.fetch()}
    source.ack(msgs[message(0)], Created(ticket_id=7))
    source.ack(msgs[message(1)], Skipped("automated (auto_reply)"))
    source.ack(msgs[message(2)], Quarantined("cannot parse"))

    assert list(source.fetch()) == []
    for folder, n in (("processed", 0), ("skipped", 1), ("quarantine", 2)):
        files = [p for sub in ("new", "cur") for p in (inbox / f".{folder}" / sub).iterdir()]
        assert [p.read_bytes() for p in files] == [message(n)]


def test_deferred_is_never_filed(tmp_path: Path) -> None:
    source = source_at(tmp_path / "inbox")
    source._box.add(message(1))
    [msg] = source.fetch()
    with pytest.raises(ValueError, match="not final"):
        source.ack(msg, Deferred("zendesk down"))
    assert [m.raw for m in source.fetch()] == [message(1)]


def test_ack_of_a_message_gone_from_the_inbox_names_it(tmp_path: Path) -> None:
    source = source_at(tmp_path / "inbox")
    source._box.add(message(1))
    [msg] = source.fetch()
    source.ack(msg, Created(ticket_id=1))
    with pytest.raises(AckError, match=msg.ref):
        source.ack(msg, Created(ticket_id=1))


def test_requeue_moves_a_quarantined_message_back_to_the_inbox(tmp_path: Path) -> None:
    source = source_at(tmp_path / "inbox")
    source._box.add(message(5))
    [msg] = source.fetch()
    source.ack(msg, Quarantined("zendesk rejected"))
    [waiting] = source.quarantined()
    assert waiting.raw == message(5)
    source.requeue(waiting)
    assert list(source.quarantined()) == []
    assert [m.raw for m in source.fetch()] == [message(5)]


def test_fetch_is_oldest_first(tmp_path: Path) -> None:
    import os

    source = source_at(tmp_path / "inbox")
    keys = [source._box.add(message(n)) for n in range(4)]
    # Deliveries within one second: order by the files' mtimes.
    for age, key in enumerate(reversed(keys)):
        path = tmp_path / "inbox" / "new" / key
        os.utime(path, (1_700_000_000 - age, 1_700_000_000 - age))
    assert [m.raw for m in source.fetch()] == [message(n) for n in range(4)]
