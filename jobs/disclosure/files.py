"""The airlock's disclosure checks of an output file as a whole: its type, by name and by
content (binary formats sniffed from their first bytes, PNG images inspected chunk by
chunk), and its size. Plain Python, no Django; `jobs.disclosure.check_output` runs them
before reading the content. The file is never followed through a link, and nothing of its
name is ever put in a reason: both are the script's choice.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from pathlib import Path

from jobs.disclosure.rules import Reason, Thresholds

ALLOWED_SUFFIXES = (".csv", ".json", ".txt", ".png")
ALLOWED_TEXT = "outputs must be CSV, JSON, plain text or PNG images"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The PNG chunks that only describe the picture; anything else (text, EXIF, private
# chunks, bytes after the end) could carry data past a reviewer who only sees the image.
_PNG_CHUNKS = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT",
    b"pHYs", b"bKGD", b"tIME",
}  # fmt: skip
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
# The one text chunk matplotlib writes: which software made the image.
_PNG_SOFTWARE = b"Software"


def file_reasons(path: Path, thresholds: Thresholds) -> list[Reason] | None:
    """Reasons from the file as a whole (not a regular file, too large, a binary format
    or a suffix that cannot leave), or None when its content is worth reading."""
    try:
        with _open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(512)
            handle.seek(max(size - 4, 0))
            tail = handle.read(4)
    except _NotRegular:
        return [Reason("file-type", f"This is not a regular file: {ALLOWED_TEXT}.")]
    except OSError:
        return [Reason("file-type", "The file could not be read.")]
    reasons = []
    if size > thresholds.max_output_bytes:
        reasons.append(
            Reason(
                "size",
                f"The file is larger than the limit of {_size(thresholds.max_output_bytes)}.",
            )
        )
    problem = _file_type_problem(path.suffix.lower(), head, tail)
    if problem:
        reasons.append(Reason("file-type", problem))
    return reasons or None


def read_content(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, at most `max_bytes` of them, or None when it is not a regular
    file (a link is never followed) or cannot be read."""
    try:
        with _open_regular(path) as handle:
            return handle.read(max_bytes)
    except OSError:
        return None


class _NotRegular(OSError):
    pass


def _open_regular(path: Path):
    """Open a regular file for reading without following a link or blocking on a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _NotRegular from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise _NotRegular
    return os.fdopen(descriptor, "rb")


def _size(count: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


# Formats told by their first bytes alone.
_SIGNATURES = [
    (PNG_SIGNATURE, "a PNG image"),
    (b"\x80", "a Python pickle"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"ARROW1", "an Arrow file"),
    (b"%PDF-", "a PDF"),
    (b"\x7fELF", "a program"),
]


def _sniff(head: bytes, tail: bytes) -> str | None:
    """The name of the binary format a file's first bytes (and last four) show, if any."""
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    if head.startswith(b"PAR1") and (tail == b"PAR1" or b"\x00" in head):
        return "a Parquet file"
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return "a bzip2 archive"
    if head[257:262] == b"ustar" and b"\x00" in head:
        return "a tar archive"
    return None


def _file_type_problem(suffix: str, head: bytes, tail: bytes) -> str | None:
    sniffed = _sniff(head, tail)
    if suffix not in ALLOWED_SUFFIXES:
        # The name is the researcher's choice and may hold anything: never echo it.
        found = f"The file is {sniffed}, which" if sniffed else "This type of file"
        return f"{found} cannot leave the environment: {ALLOWED_TEXT}."
    if suffix == ".png":
        if sniffed != "a PNG image":
            return f"The file is named as a PNG image but is not one: {ALLOWED_TEXT}."
        return None
    if sniffed:
        return f"The file is {sniffed} named as text, which cannot leave: {ALLOWED_TEXT}."
    return None


def png_problem(data: bytes) -> str | None:
    """What is wrong with a PNG image beyond the picture (text or private chunks, bytes
    after its end, damage), or None for a plain one."""
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            break
        body = data[position + 8 : position + 8 + length]
        if kind in _PNG_TEXT_CHUNKS:
            keyword, _, text = body.partition(b"\x00")
            if keyword != _PNG_SOFTWARE or len(text) > 100:
                return "The PNG image carries text besides the picture; save it without metadata."
        elif kind not in _PNG_CHUNKS:
            return "The PNG image carries data besides the picture; save it again as a plain PNG."
        if kind == b"IEND":
            if end != len(data):
                return "The PNG image has data after its end; save it again as a plain PNG."
            return None
        position = end
    return "The PNG image is damaged or incomplete."
