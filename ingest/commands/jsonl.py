"""The file-by-file JSON Lines loop shared by `parse` and `route`."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from parsers import ParseError


def print_each(files: Iterable[str], describe: Callable[[str, bytes], dict[str, Any]]) -> int:
    """One JSON line per file: `describe(source, raw)`, or `{"source", "error"}`.

    Returns 1 when any file failed, else 0.  Never a traceback: an error line
    names the file (exactly as given) and the reason.
    """
    status = 0
    for source in files:
        try:
            with open(source, "rb") as fh:
                raw = fh.read()
            line = describe(source, raw)
        except OSError as exc:
            line, status = {"source": source, "error": f"cannot read file: {exc.strerror}"}, 1
        except ParseError as exc:
            line, status = {"source": source, "error": str(exc)}, 1
        except Exception as exc:
            line, status = {"source": source, "error": f"unexpected {type(exc).__name__}: {exc}"}, 1
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status
