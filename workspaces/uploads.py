"""An upload handler that encrypts a dataset file as its bytes arrive.

Django would otherwise spool uploads in plaintext to a temporary file. Here each chunk
goes through an EncryptingWriter under a key that lives only in memory for the length
of the request: a crash leaves only ciphertext nobody can open.
"""

import tempfile

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from tre import crypto


class EncryptedUpload(UploadedFile):
    """An uploaded file held encrypted on disk; `open_plaintext()` reads it back."""

    def __init__(self, ciphertext, key: bytes, *, name, size, too_large: bool):
        super().__init__(ciphertext, name=name, size=size)
        self._key = key
        self.too_large = too_large

    def open_plaintext(self):
        """A fresh seekable binary reader over the plaintext (each call its own)."""
        duplicate = open(self.file.name, "rb")  # noqa: SIM115 (closed by the reader)
        return crypto.DecryptingReader(duplicate, self._key)

    def close(self):
        self.file.close()


class EncryptingUploadHandler(FileUploadHandler):
    """Streams each uploaded file into an encrypted temporary file, with a size limit.

    Past the limit it stops writing and marks the upload too large, so the form can
    say so plainly instead of failing halfway through the request.
    """

    def __init__(self, request=None, *, max_bytes: int | None = None):
        super().__init__(request)
        self.max_bytes = max_bytes or settings.TRE_MAX_UPLOAD_BYTES

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.key = crypto.new_key()
        self.ciphertext = tempfile.NamedTemporaryFile(  # noqa: SIM115 (owned by the upload)
            prefix="tre-upload-", dir=settings.TRE_TEMP_DIR
        )
        self.writer = crypto.EncryptingWriter(self.ciphertext, self.key)
        self.received = 0
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
        if not self.too_large:
            self.writer.write(raw_data)
        return None  # the chunk is consumed here; no later handler sees plaintext

    def file_complete(self, file_size):
        self.writer.close()
        self.ciphertext.flush()
        return EncryptedUpload(
            self.ciphertext,
            self.key,
            name=self.file_name,
            size=file_size,
            too_large=self.too_large,
        )
