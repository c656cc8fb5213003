"""SQL takes parameters only: every value reaches SQLite as a `?` parameter.

store.py holds every SQL statement (DESIGN.md). Some statements are f-strings, for what SQLite
cannot take as a parameter: the `?` lists of an IN (`_marks(n)`), column lists and WHERE / ORDER
fragments built from constants, and PRAGMA values computed from validated settings. This test reads
store.py's syntax tree and allows exactly those interpolations, each for a stated reason; any other
interpolated value in an SQL string (an f-string, `%`, `.format`, `+`) fails it, naming the line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import wf.engine.store as store_module

SRC = Path(store_module.__file__).read_text()
TREE = ast.parse(SRC)
SRC_ROOT = Path(store_module.__file__).resolve().parents[1]
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|PRAGMA|WITH|CREATE|WHERE|ORDER BY|AND|LIMIT)\b")

# expression inside {...} -> why it cannot carry a caller's value
ALLOWED = {
    "_marks(len(chunk))": "a run of '?' placeholders",
    "_marks(len(flt.statuses))": "a run of '?' placeholders",
    "_marks(len(TERMINAL))": "a run of '?' placeholders",
    "_marks(len(names))": "a run of '?' placeholders",
    "only": "_names_clause(): ' AND name IN (?, ...)', ' AND 0' or '' (checked below)",
    "marks": "marks = _marks(len(chunk)) (checked below)",
    "cols": "READ_COLUMNS or SUMMARY_COLUMNS (checked below)",
    "INSTANCE_COLUMNS": "a module constant",
    "BULK_COLUMNS": "a module constant",
    "where": "_where() joins constant clauses; its values go to params (checked below)",
    "order": "a constant ORDER BY or '' (checked below)",
    "finished": "a constant of LIST_ORDER_SQL (checked below)",
    "keyset": "'' or a constant of LIST_ORDER_SQL (checked below)",
    "order_by": "a constant of LIST_ORDER_SQL (checked below)",
    "', '.join(sets)": "'col = ?' per keyword name of update_instance's callers (checked below)",
    "k": "inside f'{k} = ?': a keyword argument's name, not its value (checked below)",
    "'FULL' if self.durability == 'full' else 'NORMAL'": "one of two constants",
    "SCHEMA_VERSION": "a module constant int",
    "int(BUSY_TIMEOUT_S * 1000)": "a module constant",
}


def _is_sql_text(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(SQL.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_is_sql_text(v) for v in node.values)
    return False


def test_every_interpolation_in_sql_is_a_placeholder_list_or_a_constant_fragment():
    bad = []
    seen = set()
    for node in ast.walk(TREE):
        if isinstance(node, ast.JoinedStr) and _is_sql_text(node):
            for v in node.values:
                if isinstance(v, ast.FormattedValue):
                    expr = ast.unparse(v.value)
                    seen.add(expr)
                    if expr not in ALLOWED:
                        bad.append(f"store.py:{node.lineno}: {{{expr}}} in {ast.unparse(node)[:100]}")
    assert not bad, "values interpolated into SQL (use ? parameters):\n" + "\n".join(bad)
    assert {"_marks(len(chunk))", "cols", "where"} <= seen  # the scan does find the f-strings


def test_no_percent_format_or_concatenation_of_values_into_sql():
    bad = []
    for node in ast.walk(TREE):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_sql_text(node.left):
            bad.append(f"store.py:{node.lineno}: % formatting of SQL")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
                and _is_sql_text(node.func.value):
            bad.append(f"store.py:{node.lineno}: .format() of SQL")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and (
                _is_sql_text(node.left) or _is_sql_text(node.right)):
            for side in (node.left, node.right):
                if not (isinstance(side, ast.Constant) or _is_sql_text(side)):
                    bad.append(f"store.py:{node.lineno}: SQL + {ast.unparse(side)}")
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name) \
                and node.target.id == "sql" and not isinstance(node.value, ast.Constant):
            bad.append(f"store.py:{node.lineno}: sql += {ast.unparse(node.value)}")
    assert not bad, "\n".join(bad)


def _assignments(name: str) -> list[str]:
    return [ast.unparse(n.value) for n in ast.walk(TREE) if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]


def test_the_allowed_fragments_are_built_from_constants():
    assert set(_assignments("cols")) == {"READ_COLUMNS if payloads else SUMMARY_COLUMNS"}
    for name in ("INSTANCE_COLUMNS", "READ_COLUMNS", "SUMMARY_COLUMNS", "_PARENT_ID", "BULK_COLUMNS"):  # column lists: constants
        for value in _assignments(name):
            node = ast.parse(value, mode="eval").body
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert names <= {"INSTANCE_COLUMNS", "_PARENT_ID"}, f"{name} = {value}"
    assert set(_assignments("marks")) == {"_marks(len(chunk))"}
    assert set(_assignments("order")) == {"' ORDER BY completed_at' if flt is not None and flt.completed_before is not None else ''"}
    assert set(_assignments("sets")) == {"[f'{k} = ?' for k in fields]"}
    assert set(_assignments("keyset")) == {"'' if cursor is None else after_row"}
    unpacked = {ast.unparse(n.value) for n in ast.walk(TREE) if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Tuple) and "order_by" in ast.unparse(n.targets[0])}
    assert unpacked == {"LIST_ORDER_SQL[order]"}  # finished, after_row, order_by: from the constants
    for fragments in store_module.LIST_ORDER_SQL.values():
        assert all(isinstance(f, str) and "{" not in f for f in fragments[:3]) and isinstance(fragments[3], int)
    assert all(isinstance(sql, str) for pair in store_module.RATES_SQL.values() for sql in pair)
    assert store_module._marks(3) == "?,?,?"
    # _where: every clause appended is a constant, or an f-string of _marks(...) only.
    where = next(n for n in ast.walk(TREE) if isinstance(n, ast.FunctionDef) and n.name == "_where")
    for call in ast.walk(where):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "append" \
                and ast.unparse(call.func.value) == "clauses":
            arg = call.args[0]
            ok = isinstance(arg, ast.Constant) or (isinstance(arg, ast.JoinedStr) and all(
                isinstance(v, ast.Constant) or ast.unparse(v.value).startswith("_marks(") for v in arg.values))
            assert ok, f"_where appends a non-constant clause: {ast.unparse(arg)}"


def test_update_instance_is_only_called_with_literal_keyword_names():
    """update_instance(iid, **fields) turns keyword names into column names: no caller may pass a
    ** mapping (whose keys could come from data)."""
    def constant_keyed(expr: ast.AST) -> bool:  # {"col": value}, or a conditional of such dicts
        if isinstance(expr, ast.Dict):
            return all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in expr.keys)
        if isinstance(expr, ast.IfExp):
            return constant_keyed(expr.body) and constant_keyed(expr.orelse)
        return False

    calls = 0
    for path in SRC_ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update_instance":
                calls += 1
                for k in node.keywords:
                    if k.arg is not None:
                        continue
                    # **name: allowed when every assignment of that name is a dict with literal keys
                    assert isinstance(k.value, ast.Name), f"{path}:{node.lineno}: update_instance(**{ast.unparse(k.value)})"
                    sources = [a.value for a in ast.walk(tree) if isinstance(a, (ast.Assign, ast.AnnAssign)) and any(
                        isinstance(t, ast.Name) and t.id == k.value.id
                        for t in (a.targets if isinstance(a, ast.Assign) else [a.target]))]
                    assert sources and all(constant_keyed(v) for v in sources), (
                        f"{path}:{node.lineno}: update_instance(**{k.value.id}) with keys that are not literals")
    assert calls > 0


def test_no_sql_outside_store_py():
    """DESIGN.md: every SQL statement lives in engine/store.py, so the checks above cover them all."""
    offenders = []
    for path in SRC_ROOT.rglob("*.py"):
        if path.name == "store.py" and path.parent.name == "engine":
            continue
        text = path.read_text()
        if re.search(r"\.execute(many)?\(\s*f?[\"'](SELECT|INSERT|UPDATE|DELETE|PRAGMA)", text, re.I):
            offenders.append(str(path.relative_to(SRC_ROOT)))
    assert not offenders, offenders


def test_the_name_filter_fragment_holds_placeholders_only():
    clause, params = store_module._names_clause(["a'; DROP TABLE x; --", "b"])
    assert clause == " AND name IN (?,?)" and params == ("a'; DROP TABLE x; --", "b")
    assert store_module._names_clause([]) == (" AND 0", ())
    assert store_module._names_clause(None) == ("", ())
