"""HTML body → plain lines in which form tables read as "Label: value".

Customers (and webmail editors such as Zimbra) paste the portal form as a
two-column <table>.  Rendering each two-cell row as "Label: value" lets one
line parser (parsers.fields) read both plain-text and HTML forms.  Quoted
history (<blockquote>, Gmail's "gmail_quote") is rendered with a "> " prefix,
so the reply cut-off treats it like a quoted plain-text line.
"""
from __future__ import annotations

from html.parser import HTMLParser

_BLOCK = {
    "address", "article", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "ol", "p", "pre", "section", "ul",
}
_SKIP = {"head", "script", "style", "title"}
# A label cell longer than this is prose in a layout table, not a form label.
_MAX_LABEL = 60


class _FormRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._quote = 0
        self._skip = 0
        # One entry per open <tr>: the finished cells, and the open cell's text (or None).
        self._rows: list[tuple[list[str], list[str] | None]] = []
        # Tag stack depth at which each quote started, so only its own end tag closes it.
        self._quote_tags: list[str] = []

    # --- text sinks -------------------------------------------------------
    def _cell(self) -> list[str] | None:
        return self._rows[-1][1] if self._rows else None

    def _write(self, text: str) -> None:
        cell = self._cell()
        (cell if cell is not None else self._line).append(text)

    def _break(self) -> None:
        cell = self._cell()
        if cell is not None:
            cell.append("\n")
            return
        text = " ".join("".join(self._line).split())
        self._line = []
        if text:
            self.lines.append("> " * self._quote + text)

    def _emit_row(self, cells: list[str]) -> None:
        cells = [" ".join(c.split()) for c in cells]
        label = cells[0].rstrip(": ") if cells else ""
        if len(cells) == 2 and label and len(label) <= _MAX_LABEL:
            self._write(f"{label}: {cells[1]}")
            self._break()
            return
        for cell in cells:
            if cell:
                self._write(cell)
                self._break()

    # --- parser callbacks -------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
            return
        classes = (dict(attrs).get("class") or "").split()
        if tag == "blockquote" or "gmail_quote" in classes:
            self._break()
            self._quote += 1
            self._quote_tags.append(tag)
        elif tag == "tr":
            self._break()
            self._rows.append(([], None))
        elif tag in ("td", "th") and self._rows:
            cells, open_cell = self._rows[-1]
            if open_cell is not None:  # an unclosed <td> before this one
                cells.append("".join(open_cell))
            self._rows[-1] = (cells, [])
        elif tag == "table" and self._cell() is not None:
            # A table nested in a cell: what the outer row held so far is
            # written out as plain lines; the inner rows render on their own.
            cells, open_cell = self._rows.pop()
            self._emit_row(cells + ["".join(open_cell or [])])
            self._rows.append(([], None))
        elif tag in _BLOCK or tag == "table":
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._quote_tags and tag == self._quote_tags[-1]:
            # Good enough for the shapes mailers write: a quote closes at the
            # next end tag of the kind that opened it.
            self._break()
            self._quote_tags.pop()
            self._quote -= 1
        elif tag in ("td", "th") and self._rows:
            cells, open_cell = self._rows[-1]
            if open_cell is not None:
                cells.append("".join(open_cell))
            self._rows[-1] = (cells, None)
        elif tag == "tr" and self._rows:
            cells, open_cell = self._rows.pop()
            if open_cell is not None:
                cells.append("".join(open_cell))
            self._emit_row(cells)
        elif tag in _BLOCK or tag == "table":
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._write(data)

    def finish(self) -> list[str]:
        self.close()
        while self._rows:
            cells, open_cell = self._rows.pop()
            self._emit_row(cells + (["".join(open_cell)] if open_cell is not None else []))
        self._break()
        return self.lines


def html_form_lines(html: str) -> list[str]:
    """The HTML's visible text as lines; two-cell table rows become "Label: value"."""
    renderer = _FormRenderer()
    renderer.feed(html)
    return renderer.finish()
