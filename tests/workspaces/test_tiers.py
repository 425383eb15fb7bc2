"""One ordered classification, one policy per tier."""

from workspaces.tiers import strictest, tier_policy


def test_the_strictest_classification_decides(settings):
    settings.TRE_RELEASE_APPROVALS = {"public": 1, "restricted": 3}
    settings.TRE_DISCLOSURE_THRESHOLDS = {"restricted": {"min_cell_count": 20}}
    assert strictest(["internal", "public"]) == "internal"
    policy = tier_policy(["public", "restricted", "internal"])
    assert (policy.classification, policy.approvals) == ("restricted", 3)
    assert policy.thresholds == {"min_cell_count": 20}


def test_no_classification_is_treated_as_restricted_and_unnamed_tiers_need_two(settings):
    settings.TRE_RELEASE_APPROVALS = {}
    assert tier_policy([]).classification == "restricted"
    assert tier_policy(["public"]).approvals == 2
