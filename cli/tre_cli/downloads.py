"""Saving files from the portal only once they are whole and what the portal says they are.

Each download is written under a temporary name beside its destination while its
SHA-256 is computed, compared with the portal's `X-Checksum-SHA256` header, and only then
renamed into place: a corrupted or cut transfer leaves nothing behind, and an existing
file is replaced only when asked (`--force`). File names the portal suggests
(`Content-Disposition`) are reduced to a plain name in the chosen directory, so no
answer can write anywhere else.
"""

import email.message
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tre_cli.client import Portal, one_line
from tre_cli.errors import ChecksumMismatch, ServerRefused, UsageError

CHUNK_BYTES = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._@+=-]+")


@dataclass
class SavedFile:
    """A verified download: where it went (None: standard output), its digest and size."""

    path: str | None
    sha256: str
    size_bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


def safe_filename(name: str, fallback: str) -> str:
    """`name` as a plain file name: no directories, no leading dot, nothing but letters,
    digits and a little punctuation; `fallback` when nothing is left of it."""
    base = re.split(r"[\\/]", name.strip())[-1]
    cleaned = _UNSAFE_IN_NAME.sub("_", base).lstrip("._")[:200]
    return cleaned or fallback


def suggested_filename(headers) -> str | None:
    """The file name of a `Content-Disposition: attachment; filename=...` header."""
    disposition = headers.get("Content-Disposition")
    if not disposition:
        return None
    message = email.message.Message()
    message["Content-Disposition"] = disposition
    return message.get_filename()


def save_verified(
    portal: Portal,
    api_path: str,
    *,
    destination: Callable[[str | None], Path | None],
    force: bool = False,
    query: dict | None = None,
) -> SavedFile:
    """Download `api_path` and keep it only if its SHA-256 is the portal's.

    `destination` is given the file name the portal suggests (or None) and returns the
    path to write, or None for standard output. Refuses to replace an existing file
    unless `force`."""

    def receive(response) -> SavedFile:
        expected = (response.headers.get("X-Checksum-SHA256") or "").strip().lower()
        if not _SHA256.fullmatch(expected):
            raise ServerRefused(f"the portal sent no checksum with {api_path}: not keeping it")
        path = destination(suggested_filename(response.headers))
        if path is not None and path.exists() and not force:
            raise UsageError(f"{path} exists: add --force to replace it")
        return _receive_verified(response, path, expected, what=path or api_path)

    return portal.request("GET", api_path, query=query, receive=receive)


def _receive_verified(response, path: Path | None, expected: str, *, what) -> SavedFile:
    directory = path.parent if path is not None else None
    try:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        temporary = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open until verified
            dir=directory, prefix=".tre-", suffix=".part", delete=False
        )
    except OSError as error:
        raise UsageError(
            f"cannot write in {directory or 'the temporary directory'}: {error.strerror}"
        ) from None
    digest = hashlib.sha256()
    size = 0
    try:
        with temporary:
            # Reading may fail as a connection problem (and be retried); writing, as a
            # problem with this machine's disk.
            while chunk := response.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                _write(temporary, chunk, what)
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumMismatch(
                f"the download of {what} was corrupted (SHA-256 {actual[:12]}…, "
                f"the portal's {expected[:12]}…): nothing was saved, try again"
            )
        if path is None:
            with open(temporary.name, "rb") as verified:
                shutil.copyfileobj(verified, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return SavedFile(path=None, sha256=actual, size_bytes=size)
        _move_into_place(Path(temporary.name), path)
        return SavedFile(path=str(path), sha256=actual, size_bytes=size)
    finally:
        Path(temporary.name).unlink(missing_ok=True)


def _write(file, chunk: bytes, what) -> None:
    try:
        file.write(chunk)
    except OSError as error:
        raise UsageError(f"cannot save {what}: {error.strerror}") from None


def _move_into_place(temporary: Path, path: Path) -> None:
    # The temporary file was made for the owner alone; the saved one gets the
    # permissions any other new file of this person's would have.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except OSError as error:
        raise UsageError(f"cannot save {path}: {error.strerror}") from None


def describe(saved: SavedFile) -> str:
    """One line for a person about a saved file."""
    return one_line(f"saved {saved.path} ({saved.size_bytes} bytes, SHA-256 verified)")
