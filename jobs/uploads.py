"""An upload handler for script files: in memory, and only up to the script limit.

Django's own handlers would spool a file of any size to disk (the portal sets
FILE_UPLOAD_MAX_MEMORY_SIZE to 0 for the datasets' sake) before the form could say it is
too large. This one keeps at most TRE_MAX_SCRIPT_BYTES of a file and past that only counts
its bytes, so the form can answer with the size.
"""

import io

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class ScriptUploadHandler(FileUploadHandler):
    """Holds each uploaded file in memory up to the script limit; `too_large` past it."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received <= settings.TRE_MAX_SCRIPT_BYTES:
            self.buffer.write(raw_data)
        elif self.buffer.tell():
            self.buffer = io.BytesIO()  # too large: what was kept is no use
        return None

    def file_complete(self, file_size):
        self.buffer.seek(0)
        upload = InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
        upload.too_large = file_size > settings.TRE_MAX_SCRIPT_BYTES
        return upload
