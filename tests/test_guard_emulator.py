"""A burst of 100 mails from one sender, through the Pipeline into the Zendesk emulator: at most 20 tickets."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

from ingest.emulator import Emulator
from ingest.ledger import Ledger
from ingest.outcomes import Created, Skipped
from ingest.pipeline import Pipeline
from ingest.sink import build_sink
from ingest.source import RawMessage
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)


def mail(n: int, sender: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    # No auto-reply headers at all: the loop the classifiers cannot see.
    msg["Subject"] = f"Alerta do sistema {n}"
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = f"<alert-{n}@{sender.split('@')[1]}>"
    msg.set_content(f"Falha {n} no job noturno.")
    return msg.as_bytes()


def test_a_burst_of_100_from_one_sender_yields_at_most_20_tickets(zendesk_emulator: Emulator) -> None:
    emulator = zendesk_emulator
    settings = emulator_settings(emulator)
    clock = {"now": T0}
    pipe = Pipeline(Ledger.in_memory(), build_sink(settings, sleep=lambda s: None), settings, now=lambda: clock["now"])
    try:
        outcomes = []
        for n in range(100):  # one every 3 s: the whole burst inside the 10-minute window
            clock["now"] = T0 + timedelta(seconds=3 * n)
            outcomes.append(pipe.process(RawMessage(raw=mail(n, "robo@erp-cliente.com.br"), ref=str(n))))
        # A different sender in the middle of the storm is not held back.
        other = pipe.process(RawMessage(raw=mail(1000, "ana@erp-cliente.com.br"), ref="other"))
    finally:
        pipe.close()

    created = [o for o in outcomes if isinstance(o, Created)]
    loops = [o for o in outcomes if isinstance(o, Skipped) and o.reason.startswith("loop: ")]
    assert len(emulator.tickets) == len(created) + 1 <= 21
    assert len(created) == 20 and len(loops) == 80
    assert isinstance(other, Created)
