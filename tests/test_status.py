"""WorkflowStatus as Dapr's: members, values and str(); wf's extra statuses keep their names."""

from __future__ import annotations

import pytest
from dapr.ext.workflow import WorkflowStatus as DaprStatus

from wf import WorkflowStatus
from wf.model import STATUS_NAMES, InvalidArgumentError


def test_every_dapr_member_has_its_value_and_str():
    for member in DaprStatus:
        ours = WorkflowStatus[member.name]
        assert ours.value == member.value
        assert str(ours) == str(member) == f"WorkflowStatus.{member.name}"


def test_wf_statuses_beyond_dapr_s_parse_by_name_and_unknown_is_not_a_filter():
    assert WorkflowStatus.parse("continued-as-new") is WorkflowStatus.CONTINUED_AS_NEW
    assert WorkflowStatus.parse("cancelled") is WorkflowStatus.CANCELED
    assert WorkflowStatus.parse("stalled") is WorkflowStatus.STALLED
    assert {WorkflowStatus[n] for n in STATUS_NAMES} == set(WorkflowStatus) - {WorkflowStatus.UNKNOWN}
    with pytest.raises(InvalidArgumentError, match="expected one of RUNNING"):
        WorkflowStatus.parse("unknown")
