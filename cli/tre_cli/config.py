"""Where `tre` keeps the portal's address and the API token between commands.

One small JSON file, `{"url": ..., "token": ...}`, at `$TRE_CONFIG` or
`~/.config/tre/config.json`, readable by its owner only: the token acts as the person
who made it. `TRE_URL` and `TRE_TOKEN` override what the file says, for CI jobs and
shared machines where nothing should be written to disk.
"""

import ipaddress
import json
import os
import stat
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from tre_cli.errors import UsageError

TOKEN_PREFIX = "tre_"  # noqa: S105 - the prefix every token has, not a token
NOT_SIGNED_IN = "not signed in: run `tre login URL` first (or set TRE_URL and TRE_TOKEN)"


@dataclass(frozen=True)
class Credentials:
    """The portal to talk to and the token to show it."""

    url: str
    token: str


def config_path() -> Path:
    """The configuration file: `$TRE_CONFIG`, else `~/.config/tre/config.json`."""
    if configured := os.environ.get("TRE_CONFIG"):
        return Path(configured).expanduser()
    return Path.home() / ".config" / "tre" / "config.json"


def portal_url(given: str) -> str:
    """The portal's base address from what a person typed: http(s) only, no trailing
    slash, and `/api/v1` taken off if they pasted the API's address instead."""
    url = given.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{given!r} is not a portal address like https://tre.example.org")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError(f"{given!r} should be the portal's plain address, with no ?, # or user@")
    return url


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine, where plain http:// exposes nothing."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> str:
    """The token, trimmed, once it looks like one: it goes into an HTTP header, and a
    pasted password or a stray line break should fail here, not at the portal."""
    token = token.strip()
    if not token:
        raise UsageError("no API token given")
    if not token.startswith(TOKEN_PREFIX) or not (token.isascii() and token.isprintable()):
        # Never echo what was typed: it may be a password pasted in the wrong place.
        raise UsageError(
            f"that is not an API token (they start with {TOKEN_PREFIX}): "
            "make one in the portal at /accounts/tokens/"
        )
    if " " in token:
        raise UsageError("that is not an API token: it has a space in it")
    return token


def load_saved() -> dict:
    """What `tre login` saved, or {} when nothing was."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        saved = json.loads(text)
    except ValueError:
        saved = None
    if not isinstance(saved, dict):
        raise UsageError(f"{path} is not a tre configuration: run `tre login URL` again")
    if mode & 0o077:
        print(
            f"tre: warning: others may read {path}, which holds your token: chmod 600 it",
            file=sys.stderr,
        )
    return saved


def credentials() -> Credentials:
    """The portal and token to use: the environment's, else the saved ones."""
    saved = load_saved()
    url = os.environ.get("TRE_URL") or saved.get("url")
    token = os.environ.get("TRE_TOKEN") or saved.get("token")
    if not isinstance(url, str) or not isinstance(token, str) or not url or not token:
        raise UsageError(NOT_SIGNED_IN)
    return Credentials(url=portal_url(url), token=check_token(token))


def save(credentials: Credentials) -> Path:
    """Write the configuration file, readable by its owner only, and return its path.

    The file is written whole under a temporary name and then renamed, so a crash never
    leaves half a file, nor a moment when it exists with looser permissions."""
    path = config_path()
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"url": credentials.url, "token": credentials.token}, file, indent=2)
            file.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def remove() -> Path | None:
    """Delete the configuration file; its path, or None when there was none."""
    path = config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path
