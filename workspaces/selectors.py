"""Reads for the workspace pages; writes live in services.py."""

from guardian.shortcuts import get_objects_for_user

from tre.permissions import VIEW_WORKSPACE
from workspaces.models import Dataset, Membership, SyntheticSample, Workspace


def workspaces_for(user):
    """The workspaces this user is a member of: memberships only, never staff status."""
    if not user.is_authenticated:
        return Workspace.objects.none()
    return get_objects_for_user(
        user,
        f"workspaces.{VIEW_WORKSPACE}",
        klass=Workspace,
        use_groups=False,
        with_superuser=False,
        accept_global_perms=False,
    ).order_by("name")


def members_of(workspace: Workspace):
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__username")
    )


def membership_of(user, workspace: Workspace) -> Membership | None:
    return Membership.objects.filter(workspace=workspace, user=user).first()


def datasets_of(workspace: Workspace):
    return (
        Dataset.objects.filter(workspace=workspace, erased_at=None)
        .prefetch_related("versions")
        .order_by("name")
    )


def synthetic_frame(sample: SyntheticSample):
    """The synthetic sample as a DataFrame (small: a few thousand rows)."""
    from workspaces.services.datasets import read_table

    kinds = {column["name"]: column["kind"] for column in sample.version.schema}
    return read_table(sample.file, kinds)


def summary_cards(sample: SyntheticSample) -> list[dict]:
    """Per column: headline figures and bars scaled for a small inline chart."""
    cards = []
    for name, entry in sample.summary.items():
        if "histogram" in entry:
            edges = entry["histogram"]["edges"]
            bars = [
                [f"{edges[i]:g} to {edges[i + 1]:g}", count]
                for i, count in enumerate(entry["histogram"]["counts"])
            ]
        else:
            bars = entry.get("bars", [])
        tallest = max((count for _, count in bars), default=0) or 1
        if "histogram" in entry and entry["histogram"]["edges"]:
            edges = entry["histogram"]["edges"]
            axis = (f"{edges[0]:g}", f"{edges[-1]:g}")
        elif bars:
            axis = (str(bars[0][0]), str(bars[-1][0]))
        else:
            axis = None
        cards.append(
            {
                "name": name,
                "entry": entry,
                # The chart's two ends, in words: what it shows is readable without colour
                # or hovering (each bar's exact label and count are in its <title>).
                "axis": axis,
                "tallest": max((count for _, count in bars), default=0),
                # Drawn as SVG rectangles in a 100-high box (no inline style: the CSP).
                "bars": [
                    {
                        "label": label,
                        "count": count,
                        "height": (height := round(100 * count / tallest, 1)),
                        "top": round(100 - height, 1),
                    }
                    for label, count in bars
                ],
            }
        )
    return cards
