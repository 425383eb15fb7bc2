"""The audit trail: one function to write an entry, one to verify the chain.

Every state change in the product calls `record` inside the transaction that makes
the change, so an action and its audit entry commit or roll back together.
"""

import contextvars
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from tre.models import GENESIS_HASH, AuditChainHead, AuditEvent


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


def compute_hash(event: AuditEvent) -> str:
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
    head_hash: str
    problems: list[str]

    @property
    def is_intact(self) -> bool:
        return not self.problems


def verify_chain(*, batch_size: int = 2000) -> ChainReport:
    """Walk the whole trail in order and report every break in the chain."""
    problems: list[str] = []
    expected_prev = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=batch_size)
    for event in events:
        checked += 1
        if event.sequence != expected_sequence:
            problems.append(
                f"entry #{event.sequence}: expected #{expected_sequence} "
                "(entries are missing or were inserted)"
            )
        if event.prev_hash != expected_prev:
            problems.append(f"entry #{event.sequence}: does not link to the entry before it")
        if compute_hash(event) != event.entry_hash:
            problems.append(f"entry #{event.sequence}: its content does not match its hash")
        expected_prev = event.entry_hash
        expected_sequence = event.sequence + 1

    head = AuditChainHead.objects.filter(pk=1).first()
    head_sequence, head_hash = (head.sequence, head.entry_hash) if head else (0, GENESIS_HASH)
    if head_sequence != expected_sequence - 1 or head_hash != expected_prev:
        problems.append(
            f"the chain head records #{head_sequence} but the trail ends at "
            f"#{expected_sequence - 1} (entries were removed from the end or added around it)"
        )
    return ChainReport(checked=checked, head_hash=expected_prev, problems=problems)
