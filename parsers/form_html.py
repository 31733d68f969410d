"""HTML body → plain lines in which form tables read as "Label: value".

Customers (and webmail editors such as Zimbra) paste the portal form as a
two-column <table>.  Rendering each two-cell row as "Label: value" lets one
line parser (parsers.fields) read both plain-text and HTML forms.  Quoted
history (<blockquote>, Gmail's "gmail_quote") is rendered with a "> " prefix,
so the reply cut-off treats it like a quoted plain-text line.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from parsers.html_text import escape_bracketed

_BLOCK = {
    "address", "article", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "ol", "p", "pre", "section", "ul",
}
_SKIP = {"head", "script", "style", "title"}
# A label cell longer than this is prose in a layout table, not a form label.
_MAX_LABEL = 60


@dataclass
class _Row:
    table: int  # nesting depth of the table this row belongs to
    cells: list[str] = field(default_factory=list)
    open_cell: list[str] | None = None
    # Which cells are <th> headings.
    heads: list[bool] = field(default_factory=list)
    open_head: bool = False

    def close_cell(self) -> None:
        if self.open_cell is not None:
            self.cells.append("".join(self.open_cell))
            self.heads.append(self.open_head)
            self.open_cell = None


class _FormRenderer(HTMLParser):
    def __init__(self, is_label: Callable[[str], bool] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self._is_label = is_label
        # A row of <th> labels over a row of answers, by table depth.
        self._headings: dict[int, list[str]] = {}
        self.lines: list[str] = []
        self._line: list[str] = []
        self._quote = 0
        self._skip = 0
        # Open rows, innermost last; more than one only for tables nested in cells.
        self._rows: list[_Row] = []
        self._tables = 0
        # Tag stack depth at which each quote started, so only its own end tag closes it.
        self._quote_tags: list[str] = []

    # --- text sinks -------------------------------------------------------
    def _cell(self) -> list[str] | None:
        return self._rows[-1].open_cell if self._rows else None

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

    def _emit_row(self, cells: list[str], heads: list[bool] | None = None, table: int = 0) -> None:
        cells = [" ".join(c.split()) for c in cells]
        headings = self._headings.pop(table, None)
        if headings is not None:
            if len(cells) == len(headings) and not any(heads or []):
                # <tr><th>Organização</th><th>Impacto</th></tr><tr><td>ACME</td>…
                for label, value in zip(headings, cells):
                    self._write(f"{label.rstrip(': ')}: {value}")
                    self._break()
                return
            self._emit_lines(headings)
        if (heads and len(cells) >= 2 and all(heads) and self._is_label is not None
                and any(self._is_label(c) for c in cells)):
            self._headings[table] = cells
            return
        label = cells[0].rstrip(": ") if cells else ""
        if len(cells) == 2 and label and len(label) <= _MAX_LABEL:
            self._write(f"{label}: {cells[1]}")
            self._break()
            return
        self._emit_lines(cells)

    def _emit_lines(self, cells: list[str]) -> None:
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
            # A new row closes an unclosed one of the same table, as browsers do.
            self._close_rows(self._tables)
            self._break()
            self._rows.append(_Row(self._tables))
        elif tag in ("td", "th") and self._rows:
            self._rows[-1].close_cell()  # an unclosed <td> before this one
            self._rows[-1].open_cell = []
            self._rows[-1].open_head = tag == "th"
        elif tag == "table":
            if self._cell() is not None:
                # A table nested in a cell: what the outer row held so far is
                # written out as plain lines; the inner rows render on their own.
                row = self._rows.pop()
                row.close_cell()
                self._emit_row(row.cells, row.heads, row.table)
                self._rows.append(_Row(row.table))
            self._break()
            self._tables += 1
        elif tag in _BLOCK:
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
            self._rows[-1].close_cell()
        elif tag == "tr":
            self._close_rows(self._tables)
        elif tag == "table":
            self._close_rows(self._tables)
            self._emit_lines(self._headings.pop(self._tables, []))
            self._tables = max(0, self._tables - 1)
            self._break()
        elif tag in _BLOCK:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._write(data)

    def _close_rows(self, table: int) -> None:
        """Emits and closes the open rows of table depth `table` and deeper."""
        while self._rows and self._rows[-1].table >= table:
            row = self._rows.pop()
            row.close_cell()
            self._emit_row(row.cells, row.heads, row.table)

    def finish(self) -> list[str]:
        self.close()
        self._close_rows(0)
        for table in sorted(self._headings):
            self._emit_lines(self._headings.pop(table))
        self._break()
        return self.lines


def html_form_lines(html: str, is_label: Callable[[str], bool] | None = None) -> list[str]:
    """The HTML's visible text as lines; two-cell table rows become "Label: value".

    With `is_label`, a row of <th> cells holding labels over a row of answers
    reads as "Label: answer" per column too.
    """
    renderer = _FormRenderer(is_label)
    renderer.feed(escape_bracketed(html))
    return renderer.finish()
