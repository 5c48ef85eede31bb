"""File names as the browser sent them, for the forms without JavaScript.

Django cleans an uploaded file's name before any form sees it (`../../x.fastq.gz` becomes
`x.fastq.gz`, NUL and right-to-left override characters are dropped, `..` drops the file, 255+
characters are cut at the front of the extension), so a hostile name would be silently renamed
and accepted, while the JSON path, which sends the name as text, refuses it. This upload handler
(first in FILE_UPLOAD_HANDLERS) parses the body with a parser that remembers each file's name as
sent, and sets it on the file as `sent_name`; the forms judge that name with the one rule,
jobs.intake.forms.check_fastq_file_name.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser

# What Django would drop entirely: kept under this name so the file still reaches the form,
# which refuses it by its sent name.
UNNAMED = "unnamed"


def sent_name(upload) -> str:
    """The name the browser sent for this file (its cleaned name when none was recorded)."""
    return getattr(upload, "sent_name", upload.name)


class _NameKeepingParser(MultiPartParser):
    last_sent_name = ""

    def sanitize_file_name(self, file_name):
        self.last_sent_name = file_name
        return super().sanitize_file_name(file_name) or UNNAMED


class SentNameUploadHandler(FileUploadHandler):
    """Passes every byte on to the next handler; only records the names."""

    def __init__(self, request=None):
        super().__init__(request)
        self._parser = None
        self._names: dict[str, list[str]] = {}

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self._parser is not None:  # called again by the parser below: let it parse
            return None
        self._parser = _NameKeepingParser(META, input_data, self.request.upload_handlers,
                                          encoding)
        post, files = self._parser.parse()
        for field_name, uploads in files.lists():
            for upload, name in zip(uploads, self._names.get(field_name, [])):
                upload.sent_name = name
        return post, files

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        if self._parser is not None:
            self._names.setdefault(field_name, []).append(self._parser.last_sent_name)

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None
