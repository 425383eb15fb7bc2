"""What a dataset's classification asks of the jobs that read it: one ordered scale, and
one function that gives everything a tier decides (how many output checkers approve a
release, the disclosure checks' thresholds). A job reading several datasets gets the
strictest of their tiers."""

from dataclasses import dataclass

from django.conf import settings

from workspaces.models import Classification

# Least to most strict: the order Classification declares them in.
ORDER = list(Classification.values)


@dataclass(frozen=True)
class TierPolicy:
    classification: str
    approvals: int  # output checkers who must approve a release
    thresholds: dict  # jobs.disclosure.Thresholds' fields, as settings give them


def strictest(classifications) -> str:
    """The strictest of these classifications (restricted when there are none)."""
    return max(classifications, key=ORDER.index, default=Classification.RESTRICTED)


def tier_policy(classifications) -> TierPolicy:
    """The policy of the strictest of these classifications (TRE_RELEASE_APPROVALS and
    TRE_DISCLOSURE_THRESHOLDS; two approvals where a tier names none)."""
    tier = strictest(list(classifications))
    return TierPolicy(
        classification=tier,
        approvals=settings.TRE_RELEASE_APPROVALS.get(tier, 2),
        thresholds=dict(settings.TRE_DISCLOSURE_THRESHOLDS.get(tier, {})),
    )
