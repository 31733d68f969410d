"""Memory benchmark: peak RSS of `bso-ingest run --once` by IMAP batch size and message size.

    .venv/bin/python bench/rss.py [--messages 40] [--batches 10,50,200] [--sizes 10k,1m,8m] [--json FILE]

For each message size, N messages (a text body plus one PDF-like attachment
of that size, base64 in the MIME) are APPENDed to a real Dovecot; for each
batch size a fresh `bso-ingest run --once` (the real service, a subprocess)
drains them into the Zendesk emulator.  Measured: the child's peak RSS
(`ru_maxrss` from wait4) and the drain time.  The baseline is the same
command on an empty inbox, measured in the same run; figures are reported as
the peak and as the ratio to that baseline.  Needs Debian's dovecot (root).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.emulator import Emulator  # noqa: E402
from tests.dovecot import DovecotServer, service_env  # noqa: E402


def size(text: str) -> int:
    units = {"k": 1024, "m": 1024 * 1024}
    return int(float(text[:-1]) * units[text[-1].lower()]) if text[-1].lower() in units else int(text)


def mail(n: int, attachment: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Cliente {n} <cliente{n}@empresa{n % 50}.com.br>"
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = f"Pedido {n} com anexo"
    msg["Message-ID"] = f"<rss-{n}-{attachment}@empresa.com.br>"
    msg["Date"] = "Mon, 23 Nov 2026 09:14:02 -0300"
    msg.set_content(f"Bom dia,\n\nSegue o relatório {n}.\n\nOrganização: Empresa {n % 50}\nProduto: RM\n")
    msg.add_attachment(os.urandom(attachment), maintype="application", subtype="pdf", filename=f"rel{n}.pdf")
    return msg.as_bytes()


def drain(dovecot: DovecotServer, emu: Emulator, root: Path, batch: int) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one `run --once`."""
    state = Path(tempfile.mkdtemp(dir=root))
    env = service_env(dovecot, emu.url, state, imap__batch_size=str(batch), service__log_level="WARNING")
    started = time.monotonic()
    log = state / "stderr.log"
    with log.open("wb") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run", "--once"], env=env,
                                stdout=subprocess.DEVNULL, stderr=err_file)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(f"  run --once exited {proc.returncode}: {log.read_text(errors='replace')[-500:]}", flush=True)
    return usage.ru_maxrss / 1024, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--batches", default="10,50,200")
    parser.add_argument("--sizes", default="10k,1m,8m")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bso-rss-"))
    (root / "dovecot").mkdir()
    root.chmod(0o755)
    dovecot = DovecotServer(root / "dovecot")
    dovecot.start()
    emu = Emulator("127.0.0.1", 0, strict=True).start()
    results = []
    try:
        base_rss, _ = drain(dovecot, emu, root, 50)
        print(f"baseline (empty inbox): {base_rss:.0f} MiB peak RSS", flush=True)
        for text in args.sizes.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                dovecot.reset_mail()
                with dovecot.client() as client:
                    for n in range(1, args.messages + 1):
                        client.append("INBOX", mail(n, size(text)))
                emu.reset()
                rss, seconds = drain(dovecot, emu, root, batch)
                done = len(emu.tickets)
                results.append({"attachment": text, "batch_size": batch, "messages": args.messages,
                                "tickets": done, "peak_rss_mib": round(rss, 1),
                                "ratio_to_baseline": round(rss / base_rss, 2), "seconds": round(seconds, 1)})
                print(f"attachment {text:>4} batch {batch:>4}: {rss:6.0f} MiB ({rss / base_rss:.2f}x baseline),"
                      f" {done}/{args.messages} tickets in {seconds:.1f}s", flush=True)
    finally:
        emu.stop()
        dovecot.stop()
    if args.json:
        args.json.write_text(json.dumps({"baseline_mib": round(base_rss, 1), "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
