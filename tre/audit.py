"""The audit trail: one function to write an entry, one to verify the chain.

Every state change in the product calls `record` inside the transaction that makes
the change, so an action and its audit entry commit or roll back together.

Each entry's hash is an HMAC-SHA256, under the audit key, of its fields and the hash of
the entry before it. The key lives outside the database (tre.vault.audit_key), so someone
who can write to the database but lacks the key cannot edit, insert or remove entries and
recompute a chain that verifies. One change needs no key: cutting entries off the end and
moving the head back to match, since every entry left is genuine. Checkpoints catch that:
the head's sequence and hash at a moment, MACed with the key and kept outside the
database. A checkpoint also fixes every entry before it, even against a holder of the key,
because each hash covers all the hashes before it.
"""

import contextvars
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from tre import crypto
from tre.models import GENESIS_HASH, AuditChainHead, AuditEvent
from tre.vault import audit_key, write_private_file


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the client's address and user agent."""

    ip_address: str | None = None
    user_agent: str = ""


_current_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "audit_origin", default=None
)


def origin_from_request(request) -> Origin:
    address = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRE_TRUSTED_PROXY_COUNT
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if proxies and len(forwarded) >= proxies:
        # The right-most hops were added by our own proxies; the one before them
        # is the client as our outermost proxy saw it.
        address = forwarded[-proxies]
    return Origin(
        ip_address=address,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
    )


class AuditContextMiddleware:
    """Makes the request's origin known to `record` without passing it around."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_origin.set(origin_from_request(request))
        try:
            return self.get_response(request)
        finally:
            _current_origin.reset(token)


def _canonical(event: AuditEvent) -> bytes:
    payload = {
        "sequence": event.sequence,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "workspace_id": event.workspace_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent, *, key: bytes | None = None) -> str:
    """The entry's HMAC-SHA256 under the audit key (`key` overrides it)."""
    return hmac.new(key or audit_key(), _canonical(event), hashlib.sha256).hexdigest()


def unkeyed_hash(event: AuditEvent) -> str:
    """The plain SHA-256 that chained the trail before it was keyed. Anyone can recompute
    it, so it proves nothing against a database writer; it remains to check and re-key
    trails written by earlier releases (see `rehash_chain`)."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def _workspace_of(target):
    if target is None:
        return None
    if target._meta.label == "workspaces.Workspace":
        return target
    return getattr(target, "workspace", None)


def record(
    *,
    action: str,
    by=None,
    target=None,
    workspace=None,
    details: dict | None = None,
    request=None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
) -> AuditEvent:
    """Append one entry to the audit trail, in the caller's transaction.

    `by` is the acting user (None for the system or an anonymous visitor), `target`
    the model instance acted on. `details` must hold no private data: ids, names of
    things and counts, never dataset values.
    """
    origin = origin_from_request(request) if request is not None else _current_origin.get()
    origin = origin or Origin()
    actor = by if by is not None and getattr(by, "is_authenticated", False) else None
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)
    workspace = workspace or _workspace_of(target)
    # A JSON round trip now, so the hash covers exactly what the database returns later.
    details = json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))

    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            sequence=head.sequence + 1,
            created_at=timezone.now(),
            actor=actor,
            actor_label=actor.get_username() if actor else "",
            action=action,
            target_type=target_type,
            target_id=str(target_id)[:64],
            target_label=str(target_label)[:255],
            workspace=workspace,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
            details=details,
            prev_hash=head.entry_hash,
        )
        event.entry_hash = compute_hash(event)
        event.save()
        head.sequence = event.sequence
        head.entry_hash = event.entry_hash
        head.save(update_fields=["sequence", "entry_hash"])
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_sequence: int
    head_hash: str
    problems: list[str]

    @property
    def is_intact(self) -> bool:
        return not self.problems


Digest = Callable[[AuditEvent], str]


def walk_chain(
    digest: Digest,
    *,
    events=AuditEvent,
    heads=AuditChainHead,
    using: str = DEFAULT_DB_ALIAS,
    batch_size: int = 2000,
    keep: Iterable[int] = (),
) -> tuple[ChainReport, dict[int, str]]:
    """Check the trail under `digest`; also return the hashes found at the sequences in
    `keep`. `verify_chain` is the check to call; this takes the models and the hash
    function so that a migration can check a trail with its historical models."""
    keep = set(keep)
    found = {0: GENESIS_HASH}
    problems: list[str] = []
    expected_prev = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    last_sequence = -1  # not 0: an entry numbered 0 would be skipped, not reported
    head = None
    while True:
        # Pages by sequence rather than one long cursor: it holds no cursor open over
        # the table while a migration rewrites it, and reads the same on every database.
        page = list(
            events._default_manager.using(using)
            .filter(sequence__gt=last_sequence)
            .order_by("sequence")[:batch_size]
        )
        if not page:
            if head is not None:
                break
            # Read the head, then look once more: every entry the head counts is visible
            # to that look, so entries appended during the walk are walked too rather
            # than mistaken for a head that runs ahead of the trail.
            head = heads._default_manager.using(using).filter(pk=1).values_list(
                "sequence", "entry_hash"
            ).first() or (0, GENESIS_HASH)
            continue
        head = None
        for event in page:
            checked += 1
            if event.sequence != expected_sequence:
                problems.append(
                    f"entry #{event.sequence}: expected #{expected_sequence} "
                    "(entries are missing or were inserted)"
                )
            if event.prev_hash != expected_prev:
                problems.append(f"entry #{event.sequence}: does not link to the entry before it")
            if not hmac.compare_digest(digest(event).encode(), event.entry_hash.encode()):
                problems.append(f"entry #{event.sequence}: its content does not match its hash")
            if event.sequence in keep:
                found[event.sequence] = event.entry_hash
            expected_prev = event.entry_hash
            expected_sequence = event.sequence + 1
        last_sequence = page[-1].sequence

    head_sequence, head_hash = head
    if head_sequence != expected_sequence - 1 or head_hash != expected_prev:
        problems.append(
            f"the chain head records #{head_sequence} but the trail ends at "
            f"#{expected_sequence - 1} (entries were removed from the end or added around it)"
        )
    report = ChainReport(
        checked=checked,
        head_sequence=expected_sequence - 1,
        head_hash=expected_prev,
        problems=problems,
    )
    return report, found


def verify_chain(
    *,
    checkpoints: Iterable["Checkpoint"] = (),
    key: bytes | None = None,
    batch_size: int = 2000,
) -> ChainReport:
    """Walk the whole trail in order and report every break in the chain, and every
    checkpoint whose entry is no longer there with the hash it had.

    `checkpoints` come from `parse_checkpoint` or `read_checkpoint`, which refuse any
    not made with the audit key."""
    key = key or audit_key()
    checkpoints = list(checkpoints)
    report, found = walk_chain(
        lambda event: compute_hash(event, key=key),
        batch_size=batch_size,
        keep=[checkpoint.sequence for checkpoint in checkpoints],
    )
    problems = []
    for checkpoint in checkpoints:
        label = f"checkpoint of #{checkpoint.sequence} taken {checkpoint.taken_at}"
        if checkpoint.sequence > report.head_sequence:
            problems.append(
                f"{label}: entry #{checkpoint.sequence} is gone; the trail now ends at "
                f"#{report.head_sequence} (entries were cut off its end and the head moved back)"
            )
        elif checkpoint.sequence not in found:
            problems.append(f"{label}: entry #{checkpoint.sequence} is gone")
        elif found[checkpoint.sequence] != checkpoint.entry_hash:
            problems.append(
                f"{label}: entry #{checkpoint.sequence} no longer has the hash it had then "
                "(the trail up to it was rewritten)"
            )
    return replace(report, problems=[*report.problems, *problems])


# --- checkpoints ---------------------------------------------------------------------

CHECKPOINT_FORMAT = "tre-audit-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint that is malformed, or was not made with this installation's audit key."""


@dataclass(frozen=True)
class Checkpoint:
    """The trail's head at a moment: entry #`sequence` had `entry_hash` at `taken_at`.

    `mac` covers the rest under the audit key (whose public fingerprint is `key_id`), so
    no one without the key can make one up to match a trail they cut back."""

    sequence: int
    entry_hash: str
    taken_at: str
    key_id: str
    mac: str = ""

    def _mac_payload(self) -> bytes:
        # The format name keeps a checkpoint's MAC from ever being an entry's hash: their
        # payloads have different fields.
        fields = {"format": CHECKPOINT_FORMAT, **asdict(self)}
        del fields["mac"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: bytes) -> "Checkpoint":
        return replace(self, mac=hmac.new(key, self._mac_payload(), hashlib.sha256).hexdigest())

    def to_json(self) -> str:
        return json.dumps({"format": CHECKPOINT_FORMAT, **asdict(self)}, indent=2) + "\n"


def make_checkpoint(*, key: bytes | None = None) -> Checkpoint:
    """A checkpoint of the chain's head now, to keep outside the database."""
    key = key or audit_key()
    sequence, entry_hash = AuditChainHead.objects.filter(pk=1).values_list(
        "sequence", "entry_hash"
    ).first() or (0, GENESIS_HASH)
    return Checkpoint(
        sequence=sequence,
        entry_hash=entry_hash,
        taken_at=timezone.now().astimezone(UTC).isoformat(timespec="seconds"),
        key_id=crypto.key_id(key),
    ).signed(key)


def parse_checkpoint(text: str, *, key: bytes | None = None) -> Checkpoint:
    """The checkpoint `text` holds (as `Checkpoint.to_json` wrote it), if it is genuine;
    CheckpointError if it is malformed or its MAC was not made with the audit key."""
    key = key or audit_key()
    try:
        fields = json.loads(text)
        if fields.pop("format") != CHECKPOINT_FORMAT:
            raise ValueError
        checkpoint = Checkpoint(**fields)
        if not (
            type(checkpoint.sequence) is int
            and checkpoint.sequence >= 0
            and all(
                isinstance(value, str)
                for value in (checkpoint.entry_hash, checkpoint.taken_at, checkpoint.key_id)
            )
            and isinstance(checkpoint.mac, str)
        ):
            raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CheckpointError(
            "refused: not an audit checkpoint (as `manage.py audit_checkpoint` writes one)"
        ) from None
    if checkpoint.key_id != crypto.key_id(key):
        raise CheckpointError(
            f"refused: it was not made with this installation's audit key (it names key "
            f"{checkpoint.key_id}; the key configured is {crypto.key_id(key)})"
        )
    expected = checkpoint.signed(key).mac
    if not hmac.compare_digest(checkpoint.mac.encode(), expected.encode()):
        raise CheckpointError(
            "refused: its MAC does not match: it was altered or forged, not made with the audit key"
        )
    return checkpoint


def read_checkpoint(path: str | Path, *, key: bytes | None = None) -> Checkpoint:
    """`parse_checkpoint` of a file; CheckpointError names the file."""
    try:
        return parse_checkpoint(Path(path).read_text(), key=key)
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: cannot be read ({error})") from None
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


def save_checkpoint(path: str | Path, *, key: bytes | None = None) -> Checkpoint:
    """Make a checkpoint and write it to the new file `path`, readable by its owner
    alone (0600). An existing file is never overwritten (FileExistsError)."""
    checkpoint = make_checkpoint(key=key)
    write_private_file(Path(path), checkpoint.to_json())
    return checkpoint
