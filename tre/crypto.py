"""Encryption at rest for dataset files: envelope keys and a streaming, seekable AEAD.

Plain Python (no Django) so it can be tested and benchmarked alone.

Envelope: every stored file has its own random 256-bit data key. The data key is stored
only wrapped (AES-GCM) by the master key, which comes from the environment or a key file
and never from the database. Destroying the wrapped data key destroys the file's
plaintext for good, whatever copies of the ciphertext remain (crypto-shredding).

Files: the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015, as in Tink's
streaming AEAD) over AES-256-GCM. The plaintext is cut into 1 MiB segments; segment i is
sealed with the nonce `prefix(7) || i(4, big-endian) || last(1)` and the file header as
associated data. So a flipped bit, a swapped or repeated segment, or a file cut short at
a segment boundary all fail authentication; memory stays at one segment whatever the
file's size; and any byte range can be read without decrypting what precedes it, which
lets pyarrow read a Parquet file's footer and chosen columns straight from ciphertext.
"""

import hashlib
import io
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"TRE-AEAD-1\n"
PREFIX_SIZE = 7
HEADER_SIZE = len(MAGIC) + PREFIX_SIZE
SEGMENT_SIZE = 1 << 20
TAG_SIZE = 16
KEY_SIZE = 32
WRAP_NONCE_SIZE = 12


class IntegrityError(Exception):
    """The ciphertext, or the key that should open it, is not what was written."""


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_SIZE)


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, to tell which master key wrapped a data key."""
    return hashlib.sha256(b"tre-key-id" + key).hexdigest()[:16]


def wrap_key(data_key: bytes, master_key: bytes, *, context: bytes) -> bytes:
    """Seal `data_key` under `master_key`; `context` (for example a purpose and an id) binds
    the wrapped key to where it is used, so it cannot be swapped onto another file."""
    nonce = os.urandom(WRAP_NONCE_SIZE)
    return nonce + AESGCM(master_key).encrypt(nonce, data_key, context)


def unwrap_key(wrapped: bytes, master_key: bytes, *, context: bytes) -> bytes:
    """Open a wrapped data key; IntegrityError if the master key or context is wrong."""
    try:
        return AESGCM(master_key).decrypt(
            wrapped[:WRAP_NONCE_SIZE], wrapped[WRAP_NONCE_SIZE:], context
        )
    except InvalidTag:
        raise IntegrityError("The data key does not open with this master key.") from None


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)


def ciphertext_size(plaintext_size: int) -> int:
    """How many bytes a plaintext of this size takes once encrypted."""
    segments = max(1, -(-plaintext_size // SEGMENT_SIZE))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


class EncryptingWriter(io.RawIOBase):
    """A write-only file object that encrypts into `sink` and hashes the plaintext.

    Call `close()` (or use it as a context manager) to seal the last segment; a file
    that was never closed cannot be decrypted, so a crash mid-write leaves no readable
    half-file behind.
    """

    def __init__(self, sink, key: bytes):
        super().__init__()
        self._sink = sink
        self._aead = AESGCM(key)
        self._prefix = os.urandom(PREFIX_SIZE)
        self._header = MAGIC + self._prefix
        self._buffer = bytearray()
        self._index = 0
        self._plaintext_hash = hashlib.sha256()
        self.plaintext_size = 0
        sink.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        self._plaintext_hash.update(data)
        self.plaintext_size += len(data)
        self._buffer += data
        # Keep at least one byte back: the final segment must be sealed as the last.
        while len(self._buffer) > SEGMENT_SIZE:
            self._seal(bytes(self._buffer[:SEGMENT_SIZE]), last=False)
            del self._buffer[:SEGMENT_SIZE]
        return len(data)

    def _seal(self, segment: bytes, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        self._sink.write(self._aead.encrypt(nonce, segment, self._header))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()

    @property
    def sha256(self) -> str:
        """SHA-256 of the plaintext written so far."""
        return self._plaintext_hash.hexdigest()


class DecryptingReader(io.RawIOBase):
    """A read-only, seekable file object over ciphertext written by EncryptingWriter.

    Every segment is authenticated before any of its bytes are returned; the last
    segment must carry the "last" flag, so truncation is detected too.
    """

    def __init__(self, source, key: bytes):
        super().__init__()
        self._source = source
        self._aead = AESGCM(key)
        source.seek(0, io.SEEK_END)
        total = source.tell()
        source.seek(0)
        header = source.read(HEADER_SIZE)
        if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
            raise IntegrityError("This is not a file encrypted by the TRE.")
        self._header = header
        self._prefix = header[len(MAGIC) :]
        body = total - HEADER_SIZE
        stride = SEGMENT_SIZE + TAG_SIZE
        self._segments = max(1, -(-body // stride))
        last_size = body - (self._segments - 1) * stride - TAG_SIZE
        if last_size < 0:
            raise IntegrityError("The encrypted file is cut short.")
        self.size = (self._segments - 1) * SEGMENT_SIZE + last_size
        self._position = 0
        self._cached_index = -1
        self._cached = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def _segment(self, index: int) -> bytes:
        if index != self._cached_index:
            stride = SEGMENT_SIZE + TAG_SIZE
            self._source.seek(HEADER_SIZE + index * stride)
            sealed = self._source.read(stride)
            last = index == self._segments - 1
            try:
                self._cached = self._aead.decrypt(
                    _nonce(self._prefix, index, last), sealed, self._header
                )
            except InvalidTag:
                raise IntegrityError(
                    f"Segment {index} of the encrypted file fails authentication: "
                    "the file was altered, truncated or opened with the wrong key."
                ) from None
            self._cached_index = index
        return self._cached

    def readinto(self, buffer) -> int:
        # Fill the whole buffer across segment boundaries: callers get short reads only
        # at the end of the file.
        buffer = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(buffer) and self._position < self.size:
            index, offset = divmod(self._position, SEGMENT_SIZE)
            chunk = self._segment(index)[offset : offset + len(buffer) - filled]
            buffer[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
            self._position += len(chunk)
        return filled

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(SEGMENT_SIZE):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def verify(source, key: bytes, expected_sha256: str) -> None:
    """Authenticate every segment and check the plaintext's SHA-256; raise IntegrityError."""
    reader = DecryptingReader(source, key)
    digest = hashlib.sha256()
    while chunk := reader.read(SEGMENT_SIZE):
        digest.update(chunk)
    if digest.hexdigest() != expected_sha256:
        raise IntegrityError("The decrypted file does not match its recorded SHA-256.")
