"""Every change to workspaces, memberships and datasets: one function per action.

Each checks permission first, runs in one transaction and writes its audit entry in
that transaction. Views, the admin, management commands and tests all call these.
"""

from workspaces.services.datasets import (
    build_synthetic_sample,
    decide_columns,
    erase_dataset,
    erase_version,
    ingest_dataset,
    rebuild_synthetic_sample,
    update_dataset,
)
from workspaces.services.members import (
    add_member,
    authorize_role_change,
    change_member_roles,
    create_workspace,
    ensure_an_owner_remains,
    remove_member,
    update_workspace,
    validate_job_limits,
)

__all__ = [
    "add_member",
    "authorize_role_change",
    "build_synthetic_sample",
    "change_member_roles",
    "create_workspace",
    "decide_columns",
    "ensure_an_owner_remains",
    "erase_dataset",
    "erase_version",
    "ingest_dataset",
    "rebuild_synthetic_sample",
    "remove_member",
    "update_dataset",
    "update_workspace",
    "validate_job_limits",
]
