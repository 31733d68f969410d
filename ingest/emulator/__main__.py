"""`python -m ingest.emulator --port N`: serve the Zendesk emulator until Ctrl-C."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, DEFAULT_OAUTH_TOKEN, Emulator, Faults


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ingest.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--lenient", action="store_true", help="accept undocumented fields instead of a 422")
    p.add_argument("--email", default=DEFAULT_EMAIL)
    p.add_argument("--api-token", default=DEFAULT_API_TOKEN)
    p.add_argument("--oauth-token", default=DEFAULT_OAUTH_TOKEN)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    p.add_argument("--latency-jitter", type=float, default=0.0,
                   help="each response's latency varies by up to this many seconds either way")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    p.add_argument("--throttle-rate", type=float, default=0.0, help="share of requests answered 429")
    p.add_argument("--reset-after-create-rate", type=float, default=0.0,
                   help="share of ticket creations answered by dropping the connection")
    p.add_argument("--reset-after-update-rate", type=float, default=0.0,
                   help="share of comment PUTs answered by dropping the connection")
    p.add_argument("--rate-limit", type=int, default=0, help="requests per window, then 429 (0: off)")
    p.add_argument("--rate-window", type=float, default=60.0)
    p.add_argument("--portal", metavar="JSON", default="",
                   help="seed ticket fields, forms and organizations from this file ('demo': the portal form "
                        "shipped in ingest/demo/portal-form.json)")
    a = p.parse_args(argv)
    faults = Faults(seed=a.seed, latency=a.latency, latency_jitter=a.latency_jitter, error_rate=a.error_rate,
                    throttle_rate=a.throttle_rate,
                    reset_after_create_rate=a.reset_after_create_rate,
                    reset_after_update_rate=a.reset_after_update_rate, rate_limit=a.rate_limit,
                    rate_window=a.rate_window)
    emu = Emulator(a.host, a.port, strict=not a.lenient, faults=faults, email=a.email,
                   api_token=a.api_token, oauth_token=a.oauth_token)
    if a.portal:
        from ingest.zendesk_meta import read_seed

        emu.seed_portal(read_seed(a.portal) or {})
    emu.start()
    print(f"Zendesk emulator on {emu.url} (user {a.email}/token)", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
