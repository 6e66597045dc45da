"""Pages for people: sign-in, the board, a policy, Disarm all, re-arm and selections, maintenance windows,
operation results, plus the JSON the pages poll. Each module holds one concern; urls.py names them all."""

from heartbeats.views.board import board, favicon, status_json
from heartbeats.views.maintenance import (
    maintenance_create,
    maintenance_end,
    maintenance_extend,
    maintenance_page,
)
from heartbeats.views.operations import disarm_all, operation_detail, operation_json
from heartbeats.views.policies import policy_arm, policy_detail, policy_disarm, policy_new
from heartbeats.views.selection import rearm, selection

__all__ = [
    "board",
    "disarm_all",
    "favicon",
    "maintenance_create",
    "maintenance_end",
    "maintenance_extend",
    "maintenance_page",
    "operation_detail",
    "operation_json",
    "policy_arm",
    "policy_detail",
    "policy_disarm",
    "policy_new",
    "rearm",
    "selection",
    "status_json",
]
