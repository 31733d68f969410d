"""Recover a header block the stdlib would give up on, before it parses.

The stdlib's feed parser ends the header block at the first line that is not
`Name:` or a continuation, and reads everything after it as body.  A human
sees the From line at once in each of these, and so must we:

- a separator line, a blank line or an export's title before the headers
  (an mbox `From ` envelope line is already handled by the stdlib);
- one malformed line inside the block (`quite Delivered-To: x`, or a folded
  line that lost its leading white space) followed by valid headers: it is
  read as a continuation of the header before it, so nothing is lost and no
  header is invented;
- RFC 5322 §4.5 obsolete syntax: white space before the colon
  (`From  : John Doe <jdoe@example>`), which the stdlib does not accept.

Correct mail comes back as the very same bytes object (the fast path checks
each header line once).  Every change is reported as a defect.  Nothing here
guesses an address: it only decides which lines are headers.
"""
from __future__ import annotations

import re

# What the stdlib's feed parser takes for a header line (email.feedparser.headerRE).
_HEADER = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[ \t]")
_CONTINUATION = re.compile(rb"[ \t]")
_OBSOLETE = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]+:")
_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_FIRST_BLANK = re.compile(rb"\r?\n\r?\n|\r\r")
# Header names that show a block really is a message's header, not body
# text that happens to hold "Word: text" lines.
KNOWN = frozenset({
    b"from", b"to", b"cc", b"bcc", b"subject", b"date", b"message-id", b"sender", b"reply-to",
    b"received", b"return-path", b"delivered-to", b"mime-version", b"content-type",
    b"content-transfer-encoding", b"in-reply-to", b"references", b"x-mailer", b"user-agent",
})
# Lines before the headers we look past; an export puts one or two there.
MAX_LEADING = 5
# Bad lines inside one block we look past; more and it is not a header block.
MAX_BAD = 3


def recover(raw: bytes) -> tuple[bytes, list[str]]:
    """(raw with its header block repaired, defects); `raw` itself when nothing needed repair."""
    blank = _FIRST_BLANK.search(raw)
    head = raw[: blank.start() + 1] if blank else raw
    if all(_is_header_line(line) for line in head.splitlines()):
        return raw, []
    lines = raw.splitlines(keepends=True)
    start = _first_header(lines)
    if start is None:
        return raw, []
    defects: list[str] = []
    if start:
        defects.append(f"header block: skipped {start} line(s) before the headers")
    end = _block_end(lines, start)
    kept: list[bytes] = []
    obsolete_names: list[str] = []
    malformed = 0
    for index in range(start, end):
        line = lines[index]
        obsolete = _OBSOLETE.match(line)
        if obsolete:
            name = obsolete.group(1)
            obsolete_names.append(name.decode("ascii"))
            kept.append(name + b":" + line[obsolete.end():])
        elif _HEADER.match(line):
            kept.append(line)
        elif malformed < MAX_BAD and _valid_after(lines, index + 1, end, MAX_BAD - malformed - 1):
            malformed += 1
            if kept:
                defects.append(f"header block: line {index + 1} is not a header; read as a continuation")
                kept.append(b" " + line)
            else:
                defects.append(f"header block: line {index + 1} is not a header; dropped")
        else:
            # Not a header and no headers after it: the body starts here
            # without a blank line, as the stdlib reads it.
            end = index
            break
    if obsolete_names:
        defects.append("header block: obsolete white space before the colon (RFC 5322 §4.5) in "
                       + ", ".join(dict.fromkeys(obsolete_names)))
    return b"".join(kept) + b"".join(lines[end:]), defects


def _is_header_line(line: bytes) -> bool:
    return bool(_HEADER.match(line)) and not _OBSOLETE.match(line)


def _is_blank(line: bytes) -> bool:
    return line in (b"\n", b"\r\n", b"\r")


def _block_end(lines: list[bytes], start: int) -> int:
    for index in range(start, len(lines)):
        if _is_blank(lines[index]):
            return index
    return len(lines)


def _first_header(lines: list[bytes]) -> int | None:
    """Index of the line where the real header block starts."""
    for start in range(min(MAX_LEADING + 1, len(lines))):
        line = lines[start]
        if _NAME.match(line) and _looks_like_block(lines, start):
            return start
        if start == 0 and line.startswith(b"From "):
            return 0  # the mbox envelope line: the stdlib reads it
    return None


def _looks_like_block(lines: list[bytes], start: int) -> bool:
    """Two or more well-known header names in the block that starts here."""
    known = 0
    for index in range(start, _block_end(lines, start)):
        match = _NAME.match(lines[index])
        if match and match.group(1).lower() in KNOWN:
            known += 1
            if known >= 2:
                return True
    return False


def _valid_after(lines: list[bytes], start: int, end: int, allowance: int) -> bool:
    """The rest of the block is header lines (one known name at least, at most
    `allowance` more bad lines): the bad line was a slip, not the body's start."""
    known = False
    for index in range(start, end):
        line = lines[index]
        match = _NAME.match(line)
        if match:
            known = known or match.group(1).lower() in KNOWN
        elif not _CONTINUATION.match(line):
            allowance -= 1
            if allowance < 0:
                return False
    return known
