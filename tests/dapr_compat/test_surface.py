"""wf's public Python API against dapr.ext.workflow 1.19 (installed as a dev dependency): every
public name exists in wf, and every signature accepts the calls Dapr's accepts. A name Dapr adds
fails this test until wf has it (or it is listed below, with the reason, and in the README)."""

from __future__ import annotations

import enum
import inspect

import dapr.ext.workflow as dapr_wf
import dapr.ext.workflow.aio as dapr_aio
import pytest
from dapr.ext.workflow._durabletask import client as dapr_client

import wf
import wf.aio

# Left out on purpose (README, "Porting from Dapr").
NOT_IN_WF = {
    "DaprMCPClient": "calls MCP tools through a Dapr sidecar's components",
    "MCPToolDef": "belongs to DaprMCPClient",
}
# Members wf leaves out on purpose.
MEMBERS_NOT_IN_WF = {
    ("PropagatedHistory", "from_proto"): "builds from Durable Task protobuf messages; wf reads its store",
}
# Constructors whose first positional parameter differs: wf's is the store (db), Dapr's the
# sidecar's host. Dapr's parameters are all accepted by keyword.
FIRST_POSITIONAL_DIFFERS = {"WorkflowRuntime", "DaprWorkflowClient"}
# Objects the SDK builds and hands to user code: their constructors are not part of the API.
BUILT_BY_THE_SDK = {"DaprWorkflowContext", "WorkflowActivityContext", "WorkflowState", "PropagatedHistory"}

DAPR_NAMES = sorted(set(dapr_wf.__all__) - set(NOT_IN_WF))


def test_every_public_name_of_dapr_exists_in_wf():
    missing = [n for n in DAPR_NAMES if not hasattr(wf, n)]
    assert not missing, f"dapr.ext.workflow names missing from wf: {missing}"
    assert set(NOT_IN_WF) <= set(dapr_wf.__all__), "a listed exception is no longer in Dapr: drop it"


def _params(sig: inspect.Signature) -> list[inspect.Parameter]:
    return [p for p in sig.parameters.values() if p.name != "self"]


def incompatibilities(dapr_fn, wf_fn, *, positional: bool = True) -> list[str]:
    """Ways a call valid for Dapr's signature could fail on wf's."""
    d, w = inspect.signature(dapr_fn), inspect.signature(wf_fn)
    wp = _params(w)
    by_name = {p.name: p for p in wp}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in wp)
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in wp)
    wf_positional = [p for p in wp if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    problems = []
    for i, p in enumerate(_params(d)):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and positional:
            if i >= len(wf_positional) and not var_pos:
                problems.append(f"positional parameter {i} ({p.name}) not accepted")
                continue
            if p.kind is p.POSITIONAL_ONLY or p.name.startswith("_"):
                continue  # passed by position only: its name does not matter
            if i < len(wf_positional) and wf_positional[i].name != p.name:
                problems.append(f"positional parameter {i} is {wf_positional[i].name!r}, Dapr's is {p.name!r}")
                continue
        if p.name.startswith("_") and p.kind is not p.KEYWORD_ONLY:
            continue
        q = by_name.get(p.name)
        if q is None:
            if not var_kw:
                problems.append(f"keyword {p.name!r} not accepted")
            continue
        if q.kind is q.POSITIONAL_ONLY:
            problems.append(f"{p.name!r} is positional-only in wf")
        if p.default is not p.empty and q.default is q.empty:
            problems.append(f"{p.name!r} is optional in Dapr, required in wf")
    dapr_names = {p.name for p in _params(d)}
    for q in wp:
        if q.name not in dapr_names and q.default is q.empty and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD):
            if not (q.kind is not q.KEYWORD_ONLY and positional and wp.index(q) < len(_params(d))):
                problems.append(f"wf requires {q.name!r}, which Dapr's callers never pass")
    return problems


def _public_members(cls) -> dict[str, object]:
    out = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                out[name] = value
    return out


def _has_attribute(cls, name: str) -> bool:
    if hasattr(cls, name) or name in getattr(cls, "__dataclass_fields__", {}):
        return True
    try:
        return name in inspect.signature(cls).parameters  # set from the constructor's arguments
    except (TypeError, ValueError):
        return False


@pytest.mark.parametrize("name", [n for n in DAPR_NAMES if inspect.isclass(getattr(dapr_wf, n))])
def test_classes_have_dapr_s_members_and_signatures(name):
    dapr_cls, wf_cls = getattr(dapr_wf, name), getattr(wf, name)
    assert inspect.isclass(wf_cls), f"wf.{name} is not a class"
    problems = []
    if issubclass(dapr_cls, enum.Enum):
        assert issubclass(wf_cls, enum.Enum)
        for member in dapr_cls:
            ours = wf_cls[member.name]
            assert ours.value == member.value, (name, member)
        return
    if issubclass(dapr_cls, BaseException):
        assert issubclass(wf_cls, Exception)
    if name not in BUILT_BY_THE_SDK and "__init__" in vars(dapr_cls):
        problems += [f"__init__: {p}" for p in incompatibilities(
            dapr_cls, wf_cls, positional=name not in FIRST_POSITIONAL_DIFFERS)]
    for member, value in _public_members(dapr_cls).items():
        if (name, member) in MEMBERS_NOT_IN_WF:
            continue
        if not _has_attribute(wf_cls, member):
            problems.append(f"missing {member}")
            continue
        if inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod)):
            ours = getattr(wf_cls, member)
            problems += [f"{member}: {p}" for p in incompatibilities(getattr(dapr_cls, member), ours)]
    assert not problems, f"wf.{name} differs from Dapr's: {problems}"


def test_workflow_state_has_the_fields_dapr_s_proxies():
    fields = [f for f in dapr_client.WorkflowState.__dataclass_fields__]
    missing = [f for f in fields if f not in wf.WorkflowState.__dataclass_fields__]
    assert not missing


@pytest.mark.parametrize("name", [n for n in DAPR_NAMES if inspect.isfunction(getattr(dapr_wf, n))])
def test_functions_have_compatible_signatures(name):
    assert not incompatibilities(getattr(dapr_wf, name), getattr(wf, name))


def test_values_exist():
    assert repr(wf.UNSET) == repr(dapr_wf.UNSET) == "<unset>"


def test_the_async_client_has_every_method_as_a_coroutine():
    names = set(dapr_aio.__all__) - set(NOT_IN_WF)
    for name in names:
        dapr_cls, wf_cls = getattr(dapr_aio, name), getattr(wf.aio, name)
        for member, value in _public_members(dapr_cls).items():
            if not inspect.isfunction(value):
                continue
            ours = getattr(wf_cls, member, None)
            assert ours is not None, f"wf.aio.{name}.{member} is missing"
            if inspect.iscoroutinefunction(value):
                assert inspect.iscoroutinefunction(ours), member
            if inspect.isasyncgenfunction(value):
                assert inspect.isasyncgenfunction(ours), member
            assert not incompatibilities(value, ours), (member, incompatibilities(value, ours))
        assert not incompatibilities(dapr_cls, wf_cls, positional=False)


def test_the_compatibility_check_itself_catches_what_it_should():
    def dapr_style(instance_id, recursive=True, *, app_id=None): ...
    def keyword_recursive(instance_id, *, recursive=True, app_id=None): ...
    def no_app_id(instance_id, recursive=True): ...
    def extra_required(instance_id, recursive=True, *, app_id=None, force): ...

    assert incompatibilities(dapr_style, dapr_style) == []
    assert incompatibilities(dapr_style, keyword_recursive)  # purge_workflow(id, False) would fail
    assert incompatibilities(dapr_style, no_app_id)
    assert incompatibilities(dapr_style, extra_required)
