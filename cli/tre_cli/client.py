"""Talking to the portal's JSON API over HTTP, with the standard library only.

What it adds to `urllib.request`, and why:
- Two timeouts: 10 s to connect (a portal that does not answer should be said so
  quickly) and a longer one for each read, 40 s for the job long-poll, which the portal
  answers within 30 s.
- GETs are tried three times over a dropped connection: they change nothing, so asking
  again is safe. A POST is never repeated: it may have reached the portal, and a second
  one would submit a second job.
- A 429 is waited out for as long as its `Retry-After` says (any method: the portal did
  nothing with the request), saying so on stderr.
- Redirects are not followed: urllib would send the token on to wherever they point.
- Every failure becomes one `TreError` with a sentence for a person, never one that
  holds the token.
"""

import functools
import http.client
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from tre_cli import __version__
from tre_cli.errors import ConnectionProblem, ServerRefused, UsageError

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
LONG_POLL_READ_TIMEOUT = 40.0
GET_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 0.5
RATE_LIMIT_WAITS = 5
LONGEST_RATE_LIMIT_WAIT = 300.0
USER_AGENT = f"tre-cli/{__version__}"

Answer = TypeVar("Answer")


class _ReadTimeout:
    """A connection that connects within its `timeout` (for HTTPS, the TLS handshake
    included), then reads within `read_timeout`."""

    def __init__(self, *args, read_timeout: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self):
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _HTTPConnection(_ReadTimeout, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ReadTimeout, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(functools.partial(_HTTPConnection, read_timeout=self.read_timeout), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self.read_timeout = read_timeout
        self.tls_context = ssl.create_default_context()

    def https_open(self, req):
        connection = functools.partial(_HTTPSConnection, read_timeout=self.read_timeout)
        return self.do_open(connection, req, context=self.tls_context)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx then arrives as an HTTPError, reported by Portal._refusal


@functools.lru_cache
def _opener(read_timeout: float) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        _RefuseRedirects, _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout)
    )


def printable(text: Any) -> str:
    """`text` with control characters replaced, so nothing the portal sends can move the
    cursor or recolour the terminal; line breaks and tabs stay."""
    return "".join(
        character if character.isprintable() or character in "\n\t" else "\ufffd"
        for character in str(text)
    )


def one_line(text: Any) -> str:
    """`printable(text)` on a single line, for error messages."""
    return " ".join(printable(text).split())


def _retry_after_seconds(value: str | None) -> float:
    try:
        return max(float(value or 1), 0.0)
    except ValueError:
        return 1.0  # an HTTP date, which the portal does not send: a second will do


class Portal:
    """The portal at `url`, asked with `token`; `notify` says on stderr what it waits for."""

    def __init__(self, url: str, token: str, *, notify: Callable[[str], None] | None = None):
        self.url = url
        self._token = token
        self.notify = notify or (lambda message: print(f"tre: {message}", file=sys.stderr))

    def api_url(self, path: str, query: dict | None = None) -> str:
        url = f"{self.url}/api/v1/{path}"
        if query:
            # A list is the parameter repeated (`by=ward&by=sex`), as the API reads it.
            url += "?" + urllib.parse.urlencode(
                {key: value for key, value in query.items() if value is not None}, doseq=True
            )
        return url

    def get_json(
        self, path: str, *, query: dict | None = None, read_timeout: float = READ_TIMEOUT
    ) -> Any:
        """The JSON the portal answers a GET of `path` (relative to `/api/v1/`) with."""
        return self.request("GET", path, query=query, read_timeout=read_timeout, receive=_json)

    def post_json(self, path: str, body: dict) -> Any:
        """POST `body` as JSON to `path`; the JSON the portal answers with."""
        return self.request("POST", path, body=body, receive=_json)

    def request(
        self,
        method: str,
        path: str,
        *,
        receive: Callable[[http.client.HTTPResponse], Answer],
        query: dict | None = None,
        body: dict | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> Answer:
        """Send one request and hand a successful response to `receive`, whose result is
        returned. `receive` runs inside the retries: a GET whose body is cut short is
        asked again, and `receive` starts over on the new response."""
        url = self.api_url(path, query)
        data = None if body is None else json.dumps(body).encode()
        attempt = rate_limit_waits = 0
        while True:
            attempt += 1
            request = urllib.request.Request(url, data=data, method=method)
            request.add_header("Authorization", f"Bearer {self._token}")
            request.add_header("Accept", "application/json")
            request.add_header("User-Agent", USER_AGENT)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            try:
                with _opener(read_timeout).open(request, timeout=CONNECT_TIMEOUT) as response:
                    return receive(response)
            except urllib.error.HTTPError as error:
                with error:
                    if error.code == 429 and rate_limit_waits < RATE_LIMIT_WAITS:
                        seconds = _retry_after_seconds(error.headers.get("Retry-After"))
                        if seconds <= LONGEST_RATE_LIMIT_WAIT:
                            rate_limit_waits += 1
                            self.notify(
                                f"the portal asks us to slow down: trying again in {seconds:g} s"
                            )
                            time.sleep(seconds)
                            attempt -= 1  # a wait asked for is not a failed try
                            continue
                    raise self._refusal(error, url) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                if method == "GET" and attempt < GET_ATTEMPTS and _worth_retrying(error):
                    time.sleep(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))
                    continue
                raise self._unreachable(error, method) from None

    def _refusal(self, error: urllib.error.HTTPError, url: str) -> ServerRefused:
        if 300 <= error.code < 400:
            location = one_line(error.headers.get("Location", "elsewhere"))
            return ServerRefused(
                f"the portal redirects {url} to {location}: "
                "run `tre login` with the portal's address as it is now"
            )
        try:
            detail = json.loads(error.read(64 * 1024).decode("utf-8"))["detail"]
        except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
            detail = None
        if isinstance(detail, str) and detail.strip():
            return ServerRefused(f"the server says: {one_line(detail)}")
        reason = one_line(error.reason)
        if error.code == 404:
            return ServerRefused(
                f"{url} is not there (HTTP 404 {reason}): is {self.url} the portal's address?"
            )
        if error.code >= 500:
            return ServerRefused(
                f"the portal failed (HTTP {error.code} {reason}): try again later, "
                "or tell its administrators if it goes on"
            )
        return ServerRefused(f"the portal refused the request (HTTP {error.code} {reason})")

    def _unreachable(self, error: BaseException, method: str) -> ConnectionProblem:
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(cause, TimeoutError):
            what = "it did not answer in time"
        else:
            what = one_line(getattr(cause, "strerror", None) or cause or type(cause).__name__)
        message = f"cannot reach the portal at {self.url}: {what}"
        if method != "GET" and not isinstance(cause, ConnectionRefusedError):
            message += "; the request may have reached it, so check (`tre jobs`) before retrying"
        return ConnectionProblem(message)


def _worth_retrying(error: BaseException) -> bool:
    cause = error.reason if isinstance(error, urllib.error.URLError) else error
    # A certificate the portal's will not become tomorrow is not a flaky network.
    return not isinstance(cause, ssl.SSLCertVerificationError)


def _json(response: http.client.HTTPResponse) -> Any:
    body = response.read()
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        raise ServerRefused(
            f"the answer from {response.geturl()} is not JSON: is that the portal's address?"
        ) from None


def path_segment(value: Any) -> str:
    """`value` quoted for one segment of an API path."""
    text = str(value)
    if not text or text in (".", ".."):
        raise UsageError(f"{text!r} is not a name the portal knows")
    return urllib.parse.quote(text, safe="")
