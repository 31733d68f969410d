"""text/plain; format=flowed (RFC 3676) → the text as written.

Thunderbird and Apple Mail send flowed text: a line that ends in a space
is soft-wrapped and continues on the next one; with `delsp=yes` (Apple Mail,
and anything that wraps long words or URLs) that space was added by the
wrapper and is not part of the text.  Left as it came, a URL wrapped this
way has a space in it and a paragraph is cut at the sender's line width.

The `formatflowed` package on PyPI implements this but has had no release
since 2016; the decoding rules are short, so they live here.
"""
from __future__ import annotations

_SIGNATURE = "-- "


def unflow(text: str, delsp: bool = False) -> str:
    """Join soft-wrapped lines (RFC 3676 §4.2), keeping quote depth and hard breaks."""
    out: list[str] = []
    paragraph: list[str] = []
    depth = 0
    prefix = ""

    def flush() -> None:
        out.append(prefix + "".join(paragraph))
        paragraph.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line_depth = len(raw) - len(raw.lstrip(">"))
        line = raw[line_depth:]
        stuffed = line.startswith(" ")
        if stuffed:
            line = line[1:]  # space-stuffing (§4.4)
        if paragraph and line_depth != depth:
            # A change of quote depth ends a paragraph even after a soft break (§4.5).
            flush()
        if not paragraph:
            # Quote marks as the sender wrote them; unquoted stuffing is dropped.
            depth = line_depth
            prefix = raw[:line_depth] + (" " if stuffed and line_depth else "")
        if line.endswith(" ") and line != _SIGNATURE:
            paragraph.append(line[:-1] if delsp else line)
            continue
        paragraph.append(line)
        flush()
    if paragraph:
        flush()
    return "\n".join(out)
