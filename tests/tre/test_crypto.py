import io
import os

import pytest

from tre import crypto
from tre.crypto import SEGMENT_SIZE, DecryptingReader, EncryptingWriter, IntegrityError


def encrypt(plaintext: bytes, key: bytes) -> bytes:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, key)
    for start in range(0, len(plaintext), 300_000):  # arbitrary write sizes
        writer.write(plaintext[start : start + 300_000])
    writer.close()
    return sink.getvalue()


def decrypt(ciphertext: bytes, key: bytes) -> bytes:
    return DecryptingReader(io.BytesIO(ciphertext), key).read()


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE + 17]
)
def test_round_trip_at_segment_boundaries(size):
    key = crypto.new_key()
    plaintext = os.urandom(size)
    ciphertext = encrypt(plaintext, key)
    assert len(ciphertext) == crypto.ciphertext_size(size)
    assert decrypt(ciphertext, key) == plaintext


def test_the_plaintext_never_appears_in_the_ciphertext():
    key = crypto.new_key()
    plaintext = b"patient 9434765919 admitted " * 1000
    assert b"9434765919" not in encrypt(plaintext, key)


def test_writer_hashes_the_plaintext():
    import hashlib

    key = crypto.new_key()
    sink = io.BytesIO()
    with EncryptingWriter(sink, key) as writer:
        writer.write(b"abc" * 1000)
        assert writer.sha256 == hashlib.sha256(b"abc" * 1000).hexdigest()


@pytest.mark.parametrize("position", [0, 5, 20, SEGMENT_SIZE // 2, -1])
def test_a_flipped_byte_anywhere_is_detected(position):
    key = crypto.new_key()
    ciphertext = bytearray(encrypt(os.urandom(2 * SEGMENT_SIZE + 100), key))
    ciphertext[position] ^= 0x01
    with pytest.raises(IntegrityError):
        decrypt(bytes(ciphertext), key)


def test_truncation_at_a_segment_boundary_is_detected():
    key = crypto.new_key()
    ciphertext = encrypt(os.urandom(3 * SEGMENT_SIZE), key)
    cut = crypto.HEADER_SIZE + 2 * (SEGMENT_SIZE + crypto.TAG_SIZE)
    with pytest.raises(IntegrityError):
        decrypt(ciphertext[:cut], key)


def test_swapped_segments_are_detected():
    key = crypto.new_key()
    ciphertext = encrypt(os.urandom(3 * SEGMENT_SIZE), key)
    stride = SEGMENT_SIZE + crypto.TAG_SIZE
    header, body = ciphertext[: crypto.HEADER_SIZE], ciphertext[crypto.HEADER_SIZE :]
    segments = [body[i : i + stride] for i in range(0, len(body), stride)]
    swapped = header + segments[1] + segments[0] + b"".join(segments[2:])
    with pytest.raises(IntegrityError):
        decrypt(swapped, key)


def test_the_wrong_key_is_detected():
    ciphertext = encrypt(b"hello", crypto.new_key())
    with pytest.raises(IntegrityError):
        decrypt(ciphertext, crypto.new_key())


def test_not_our_format_is_refused():
    with pytest.raises(IntegrityError, match="not a file encrypted"):
        DecryptingReader(io.BytesIO(b"id,age\n1,40\n"), crypto.new_key())


def test_random_access_reads_any_range():
    key = crypto.new_key()
    plaintext = os.urandom(3 * SEGMENT_SIZE + 5)
    reader = DecryptingReader(io.BytesIO(encrypt(plaintext, key)), key)
    for start, length in [(0, 10), (SEGMENT_SIZE - 3, 10), (2 * SEGMENT_SIZE + 7, 100_000)]:
        reader.seek(start)
        assert reader.read(length) == plaintext[start : start + length]
    reader.seek(-5, io.SEEK_END)
    assert reader.read() == plaintext[-5:]
    assert reader.size == len(plaintext)


def test_pyarrow_reads_parquet_straight_from_ciphertext():
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = crypto.new_key()
    frame = pd.DataFrame({"age": range(50_000), "ward": ["A", "B"] * 25_000})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame), buffer)
    reader = DecryptingReader(io.BytesIO(encrypt(buffer.getvalue(), key)), key)
    table = pq.read_table(reader, columns=["ward"])
    assert table.num_rows == 50_000
    assert table.column_names == ["ward"]


def test_wrapped_keys_open_only_with_their_master_key_and_context():
    master, data_key = crypto.new_key(), crypto.new_key()
    wrapped = crypto.wrap_key(data_key, master, context=b"dataset-version:1")
    assert data_key not in wrapped
    assert crypto.unwrap_key(wrapped, master, context=b"dataset-version:1") == data_key
    with pytest.raises(IntegrityError):
        crypto.unwrap_key(wrapped, crypto.new_key(), context=b"dataset-version:1")
    with pytest.raises(IntegrityError):
        crypto.unwrap_key(wrapped, master, context=b"dataset-version:2")


def test_verify_checks_the_recorded_hash():
    import hashlib

    key = crypto.new_key()
    ciphertext = encrypt(b"rows", key)
    crypto.verify(io.BytesIO(ciphertext), key, hashlib.sha256(b"rows").hexdigest())
    with pytest.raises(IntegrityError, match="SHA-256"):
        crypto.verify(io.BytesIO(ciphertext), key, hashlib.sha256(b"other").hexdigest())
