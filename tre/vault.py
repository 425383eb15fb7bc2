"""Keys and encrypted files: the Django side of tre.crypto.

The master key comes from the environment (TRE_MASTER_KEY, base64) or a key file
(TRE_MASTER_KEY_FILE), never from the database. Each stored file has its own data key,
kept in the database only wrapped by the master key. Files live in the "datasets"
storage (a local directory, or S3-compatible object storage) under random names.

The audit key (TRE_AUDIT_KEY or TRE_AUDIT_KEY_FILE) keys the audit trail's hash chain
(tre.audit); it lives outside the database for the same reason.
"""

import base64
import contextlib
import io
import os
import tempfile
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction

from tre import crypto
from workspaces.models import DataKey, EncryptedFile, Workspace


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError:
        raise ImproperlyConfigured(f"{source} is not valid base64.") from None
    if len(key) != crypto.KEY_SIZE:
        raise ImproperlyConfigured(f"{source} must hold {crypto.KEY_SIZE} bytes, base64-encoded.")
    return key


def write_private_file(path: Path, text: str) -> None:
    """Create `path` holding `text`, readable by its owner alone (0600) whatever the umask.

    The file appears whole or not at all (written aside, then linked into place), and an
    existing file is never replaced: FileExistsError instead.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _load_key(*, name: str, variable: str, path: str) -> bytes:
    if value := os.environ.get(variable):
        return _decode_key(value, variable)
    path = Path(path)
    if not path.exists():
        if settings.IS_PRODUCTION:
            raise ImproperlyConfigured(f"The {name} file {path} does not exist.")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another process (the web server, a worker) may make it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            write_private_file(path, generate_master_key())
    return _decode_key(path.read_text(), str(path))


@cache
def master_key() -> bytes:
    """The master key. In development a key file is made on first use; production
    settings refuse to start without one configured."""
    return _load_key(
        name="master key", variable="TRE_MASTER_KEY", path=settings.TRE_MASTER_KEY_FILE
    )


@cache
def audit_key() -> bytes:
    """The audit trail's HMAC key, found and made like the master key. Whoever writes to
    the database without it cannot make entries (or checkpoints) that verify."""
    return _load_key(name="audit key", variable="TRE_AUDIT_KEY", path=settings.TRE_AUDIT_KEY_FILE)


def generate_master_key() -> str:
    """A new key in the form TRE_MASTER_KEY, TRE_AUDIT_KEY and their key files take."""
    return base64.urlsafe_b64encode(crypto.new_key()).decode()


def create_key(purpose: str) -> tuple[DataKey, bytes]:
    """A new data key: the row holding it wrapped, and the key itself (keep it in memory)."""
    key = crypto.new_key()
    data_key = DataKey(purpose=purpose, master_key_id=crypto.key_id(master_key()))
    data_key.wrapped_key = crypto.wrap_key(key, master_key(), context=data_key.context)
    data_key.save()
    return data_key, key


def open_key(data_key: DataKey) -> bytes:
    if data_key.master_key_id != crypto.key_id(master_key()):
        raise crypto.IntegrityError(
            f"Data key #{data_key.pk} was wrapped by master key {data_key.master_key_id}, "
            "not by the one configured."
        )
    return crypto.unwrap_key(bytes(data_key.wrapped_key), master_key(), context=data_key.context)


def dataset_storage():
    return storages["datasets"]


def write_encrypted(purpose: str, write: Callable[[io.RawIOBase], None]) -> EncryptedFile:
    """Encrypt what `write(sink)` writes into a new file in dataset storage.

    Only ciphertext touches the disk. If `write` fails, nothing is left behind.
    """
    data_key, key = create_key(purpose)
    name = f"{purpose}/{uuid.uuid4().hex}"
    with tempfile.TemporaryFile(dir=settings.TRE_TEMP_DIR) as ciphertext:
        writer = crypto.EncryptingWriter(ciphertext, key)
        try:
            write(writer)
        except BaseException:
            data_key.delete()
            raise
        writer.close()
        size = writer.plaintext_size
        ciphertext.seek(0)
        stored_name = dataset_storage().save(name, File(ciphertext, name=name))
    try:
        return EncryptedFile.objects.create(
            storage_name=stored_name, data_key=data_key, size_bytes=size, sha256=writer.sha256
        )
    except BaseException:
        dataset_storage().delete(stored_name)
        data_key.delete()
        raise


def open_encrypted(encrypted_file: EncryptedFile) -> io.BufferedReader:
    """A seekable reader of the plaintext; every segment is authenticated as it is read."""
    if encrypted_file.data_key_id is None:
        raise crypto.IntegrityError("This file's key has been destroyed: it was erased.")
    key = open_key(encrypted_file.data_key)
    source = dataset_storage().open(encrypted_file.storage_name, "rb")
    return io.BufferedReader(crypto.DecryptingReader(source, key), buffer_size=crypto.SEGMENT_SIZE)


def verify_encrypted(encrypted_file: EncryptedFile) -> None:
    """Authenticate the whole file and check its plaintext SHA-256; IntegrityError if not."""
    key = open_key(encrypted_file.data_key)
    with dataset_storage().open(encrypted_file.storage_name, "rb") as source:
        crypto.verify(source, key, encrypted_file.sha256)


def shred(encrypted_file: EncryptedFile | None) -> None:
    """Destroy the data key first (crypto-shredding), then the ciphertext, then the row."""
    if encrypted_file is None:
        return
    name = encrypted_file.storage_name
    with transaction.atomic():
        if encrypted_file.data_key_id:
            DataKey.objects.filter(pk=encrypted_file.data_key_id).delete()
        EncryptedFile.objects.filter(pk=encrypted_file.pk).delete()
        # Once the key's deletion has committed, the ciphertext is noise: remove it then,
        # so a rolled-back erasure never leaves a key without its file.
        transaction.on_commit(lambda: dataset_storage().delete(name))


def pseudonym_secret(workspace: Workspace) -> bytes:
    """The workspace's HMAC key for pseudonymisation, made on first use."""
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if workspace.pseudonym_key_id is None:
            data_key, key = create_key("pseudonym")
            workspace.pseudonym_key = data_key
            workspace.save(update_fields=["pseudonym_key"])
            return key
        return open_key(workspace.pseudonym_key)
