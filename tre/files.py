"""Serving stored files: the one way a stored file leaves the portal for a browser.

Everything the portal stores was written by someone it must not trust with a browser:
a script inside the sandbox wrote the outputs, a researcher uploaded the supporting
files. A real run once wrote `chart.html` and declared it a figure; its release item
was served as `text/html`, inline, with no Content-Security-Policy, and when two output
checkers opened it, its script cast their approvals and released the request.

So no view chooses a Content-Type or a disposition itself. `stored_file_response` does:

- the Content-Type comes from the bytes, never from a stored type: a real PNG (by its
  signature) is `image/png`; UTF-8 text is `text/csv` when named `.csv` and
  `text/plain` when named as text (`.txt`, `.json`, `.log`...); anything else is
  `application/octet-stream`. The name can only narrow the type, never widen it: HTML
  named `chart.png` or `chart.html` is octet-stream. No file is ever served as HTML,
  SVG, JavaScript or XML.
- `Content-Disposition: attachment`, except a real PNG asked for inline (the `<img>`
  tags of the portal's own pages).
- every response carries `X-Content-Type-Options: nosniff`, `Content-Security-Policy:
  sandbox; default-src 'none'` (no script, no fetch, no form, an opaque origin even if
  a browser renders it), `Cache-Control: private, no-store` and
  `Cross-Origin-Resource-Policy: same-origin`.
- the filename is reduced to safe ASCII, and an extension that a browser or an
  operating system would run (`.html`, `.svg`, `.js`...) gets `.txt` or `.bin` added.

Tables downloaded "for spreadsheets" (and the synthetic sample, always) pass through
`inert_csv_rows`, OWASP's advice against CSV injection: see its docstring.
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from tre import vault

PNG = "image/png"
CSV = "text/csv; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
READ_SIZE = 1 << 16

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # `sandbox` gives a document rendered anyway an opaque origin with scripts, forms
    # and plugins off; `default-src 'none'` stops it loading or sending anything.
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Extensions a browser, a desktop or a mail client would render or run.
ACTIVE_EXTENSIONS = frozenset(
    {
        ".htm", ".html", ".xhtml", ".xht", ".shtml", ".mht", ".mhtml", ".svg", ".svgz",
        ".xml", ".xsl", ".xslt", ".js", ".mjs", ".hta", ".swf", ".php", ".url", ".lnk",
        ".bat", ".cmd", ".com", ".exe", ".ps1", ".sh", ".vbs", ".wsf", ".jar",
    }
)  # fmt: skip
MAX_FILENAME = 100
# Names under which UTF-8 text is served as text/plain (any other name: octet-stream).
TEXT_SUFFIXES = (".txt", ".json", ".log", ".md", ".tsv")

# A cell made only of a number, which a spreadsheet reads as that number and nothing
# else: "-3.5", "+4", "1e-3". These stay as they are, so negative figures stay numbers.
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: str) -> str:
    """One CSV cell made inert for spreadsheets (see `inert_csv_rows`)."""
    if value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def inert_csv_rows(rows: Iterable[Iterable[str]]) -> Iterator[list[str]]:
    """Rows of a CSV with every cell a spreadsheet would run as a formula made inert.

    OWASP's advice against CSV injection: a cell starting with `=`, `+`, `-`, `@`, a tab
    or a carriage return gets a leading `'`, which spreadsheets take as "this is text"
    (and show without it). Write the rows with `csv.QUOTE_ALL` (as `inert_csv_response`
    does) so every cell is quoted and its quotes doubled.

    Exemption: a cell that is a plain number (`-3.5`, `+4`, `1e-3`, nothing else in it)
    stays as it is. A spreadsheet reads it as that number, which runs nothing, and a
    table of negative differences must stay a table of numbers.
    """
    for row in rows:
        yield [inert_cell(str(cell)) for cell in row]


class _Echo:
    """A file-like sink for csv.writer that hands back each line it is given."""

    def write(self, text: str) -> str:
        return text


def _csv_lines(rows: Iterable[Iterable[str]]) -> Iterator[bytes]:
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL)
    for row in inert_csv_rows(rows):
        yield writer.writerow(row).encode()


def safe_filename(name: str, content_type: str = BINARY) -> str:
    """`name` as a filename any browser and disk take as it is.

    No directory; ASCII letters, digits, `.`, `-` and `_` only (accents dropped, any
    other run of characters becomes `_`); no leading dot or dash; at most 100
    characters, keeping the extension; no extension that would run or render (`.html`
    becomes `.html.txt`, or `.html.bin` for binary content). A PNG always ends in `.png`.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        char for char in unicodedata.normalize("NFKD", name) if not unicodedata.combining(char)
    )
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".-") or "download"
    suffix = PurePosixPath(name).suffix
    if len(suffix) > 10:
        suffix = ""
    name = name[: len(name) - len(suffix)][: MAX_FILENAME - 20] + suffix
    if content_type == PNG:
        return name if suffix.lower() == ".png" else name + ".png"
    if suffix.lower() in ACTIVE_EXTENSIONS:
        return name + (".bin" if content_type == BINARY else ".txt")
    return name


def _is_utf8_text(reader: io.BufferedIOBase, head: bytes) -> bool:
    """All of the stream (from `head` on) is UTF-8 with no NUL byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk = head
    try:
        while chunk:
            if b"\x00" in chunk:
                return False
            decoder.decode(chunk)
            chunk = reader.read(READ_SIZE)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def content_type_of(reader: io.BufferedIOBase, filename: str) -> str:
    """The Content-Type the bytes of `reader` earn (see the module docstring). Reads the
    stream, to its end for text; the caller seeks back."""
    head = reader.read(READ_SIZE)
    # The signature, then the first chunk (4 bytes of length, then its type): IHDR.
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
        return PNG
    name = filename.lower()
    if not name.endswith((".csv", *TEXT_SUFFIXES)) or not _is_utf8_text(reader, head):
        return BINARY
    return CSV if name.endswith(".csv") else TEXT


def _harden(response, *, filename: str, content_type: str, inline: bool = False):
    response["Content-Type"] = content_type
    response["Content-Disposition"] = content_disposition_header(
        not inline, safe_filename(filename, content_type)
    )
    for header, value in SECURITY_HEADERS.items():
        response[header] = value
    return response


def stored_file_response(
    encrypted_file,
    *,
    filename: str,
    inline_image: bool = False,
    inert_csv: bool = False,
    checksum: str | None = None,
):
    """The response serving a stored (encrypted) file, for every view that serves one.

    - `filename`: the name to offer (sanitised here; it never decides the type).
    - `inline_image`: show it in the page (for `<img>`) if it really is a PNG; anything
      else is an attachment regardless.
    - `inert_csv`: serve the file as a spreadsheet-safe CSV (`inert_csv_rows`), always
      `text/csv`, streamed. The bytes differ from the stored ones, so no checksum then.
    - `checksum`: the stored file's SHA-256, sent as `X-Checksum-SHA256` so anyone can
      check the download is unchanged; ignored with `inert_csv`.
    """
    # Opened here, so a file that cannot be read fails before any header is sent.
    reader = vault.open_encrypted(encrypted_file)
    if inert_csv:
        return _harden(
            StreamingHttpResponse(_InertCsv(reader)), filename=filename, content_type=CSV
        )
    try:
        content_type = content_type_of(reader, filename)
        reader.seek(0)
    except BaseException:
        reader.close()
        raise
    response = FileResponse(reader, content_type=content_type)
    _harden(
        response,
        filename=filename,
        content_type=content_type,
        inline=inline_image and content_type == PNG,
    )
    if checksum:
        response["X-Checksum-SHA256"] = checksum
    return response


class _InertCsv:
    """The stored table as spreadsheet-safe CSV lines; closing it closes the file.

    Bytes that are not UTF-8 become U+FFFD and a leading BOM is dropped: what is served
    is always UTF-8 CSV written here, whatever was stored. csv.reader's field size limit
    (128 KiB) is left alone: a table with a larger cell ends with a row saying so.
    """

    def __init__(self, reader):
        self.reader = reader

    def __iter__(self) -> Iterator[bytes]:
        text = io.TextIOWrapper(self.reader, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield from _csv_lines(csv.reader(text))
        except csv.Error:
            yield from _csv_lines([["(the rest of this file could not be read as CSV)"]])

    def close(self):
        self.reader.close()


def inert_csv_response(rows: Iterable[Iterable[str]], *, filename: str) -> HttpResponse:
    """A CSV the portal builds itself (the synthetic sample), spreadsheet-safe and with
    the same headers as a stored file: an attachment, `text/csv`."""
    return _harden(HttpResponse(b"".join(_csv_lines(rows))), filename=filename, content_type=CSV)
