"""A Zendesk API emulator: a real HTTP server on loopback for tests and benchmarks.

    emu = Emulator(strict=True, faults=Faults(seed=1, error_rate=0.1)).start()
    ...  # point [zendesk] url at emu.url
    emu.stop()

Run it on its own with `python -m ingest.emulator --port 8765`.
"""
from ingest.emulator.faults import Faults
from ingest.emulator.server import DEFAULT_API_TOKEN, DEFAULT_EMAIL, DEFAULT_OAUTH_TOKEN, Emulator, LoggedRequest

__all__ = ["DEFAULT_API_TOKEN", "DEFAULT_EMAIL", "DEFAULT_OAUTH_TOKEN", "Emulator", "Faults", "LoggedRequest"]
