"""Peak memory of `bso-ingest run --once` on big mail: a real Dovecot, the emulator.

    .venv/bin/python bench/memory.py [--attachment-mb 45] [--many 10 --many-mb 30] [--json FILE]

Three drains, each a fresh service process, its peak RSS (VmHWM) read
when it ends:

- base: an inbox with one small mail (interpreter, imports, connections);
- one message carrying a 45 MB attachment (base64 makes it ~61 MB raw);
- 10 messages of 30 MB each in the inbox at once.

Goal (issue 13): one message <= base + 4x its raw size; the ten <= base + 4x
the largest; every message ends in a ticket (or in quarantine with a reason).
"""
from __future__ import annotations

import argparse
import json
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.emulator import Emulator  # noqa: E402
from tests.dovecot import DovecotServer, service_env, support_mail  # noqa: E402

MB = 1024 * 1024
# Runs the real CLI and reports its own peak RSS when done: VmHWM, which
# starts afresh at exec (ru_maxrss would carry the forking bench's peak over).
RUNNER = """
import sys
from ingest.cli import main
code = main(["run", "--once"])
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("PEAK_KB", hwm, file=sys.stderr)
sys.exit(code)
"""


def big_mail(n: int, attachment_bytes: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Cliente {n} <cliente{n}@empresa{n}.com.br>"
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = f"Video do erro {n}"
    msg["Message-ID"] = f"<video-{n}@empresa{n}.com.br>"
    msg.set_content(f"Segue o video do erro {n}.\n")
    # Incompressible, like a real video: random bytes.
    msg.add_attachment(os.urandom(attachment_bytes), maintype="video", subtype="mp4", filename=f"erro{n}.mp4")
    return msg.as_bytes(policy=email.policy.SMTP)


def drain(dovecot: DovecotServer, emu: Emulator, root: Path, mails: list[bytes]) -> dict[str, Any]:
    dovecot.reset_mail()
    emu.reset()
    dovecot.append(mails)
    run_root = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    run_root.chmod(0o755)
    env = service_env(dovecot, emu.url, run_root, service__log_level="WARNING")
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", RUNNER], env=env, cwd=run_root, capture_output=True, text=True,
                          timeout=900)
    peak = next((int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB")), 0)
    uploads = sum(1 for r in emu.requests if "uploads" in r.path and r.status == 201)
    return {
        "exit": done.returncode, "peak_rss_mb": round(peak / 1024, 1), "messages": len(mails),
        "largest_mb": round(max(len(m) for m in mails) / MB, 1), "tickets": len(emu.tickets), "uploads": uploads,
        "inbox_left": len(dovecot.folder_uids("INBOX")), "quarantined": len(dovecot.folder_uids("BSO/Quarantine")),
        "summary": done.stdout.strip()[-200:], "stderr": done.stderr.strip()[-500:] if done.returncode else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attachment-mb", type=float, default=45)
    parser.add_argument("--many", type=int, default=10)
    parser.add_argument("--many-mb", type=float, default=30, help="raw size of each of the many messages")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bso-mem-"))
    (root / "dovecot").mkdir()
    root.chmod(0o755)
    dovecot = DovecotServer(root / "dovecot")
    dovecot.start()
    emu = Emulator("127.0.0.1", 0, strict=True).start()
    report: dict[str, Any] = {}
    try:
        report["base"] = drain(dovecot, emu, root, [support_mail(1)])
        print(json.dumps({"base": report["base"]}), flush=True)
        one = [big_mail(1, int(args.attachment_mb * MB))]
        report["one"] = drain(dovecot, emu, root, one)
        print(json.dumps({"one": report["one"]}), flush=True)
        # base64 grows the attachment by 4/3 (+ line ends): pick its size so the message is --many-mb.
        many = [big_mail(n, int(args.many_mb * MB * 0.74)) for n in range(1, args.many + 1)]
        report["many"] = drain(dovecot, emu, root, many)
        print(json.dumps({"many": report["many"]}), flush=True)
    finally:
        emu.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)

    base = report["base"]["peak_rss_mb"]
    print()
    ok = True
    for name in ("one", "many"):
        r = report[name]
        budget = base + 4 * r["largest_mb"]
        fine = r["peak_rss_mb"] <= budget and r["exit"] == 0 and r["inbox_left"] == 0
        ok &= fine
        print(f"{name}: {r['messages']} message(s), largest {r['largest_mb']} MB: peak RSS {r['peak_rss_mb']} MB = "
              f"base {base} + {r['peak_rss_mb'] - base:.1f} MB ({(r['peak_rss_mb'] - base) / r['largest_mb']:.2f}x "
              f"the largest; goal <= 4x, {budget:.0f} MB); tickets {r['tickets']}, left in INBOX {r['inbox_left']}"
              f" {'ok' if fine else 'OVER'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
