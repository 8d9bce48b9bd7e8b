"""Which sub-calls in a cell are awaited together, and which are used as plain values.

In a cell that uses ``await`` (or ``async def``), a sub-call runs on an event loop. Where its result
feeds concurrency -- ``await llm_query(p)``, ``asyncio.gather(*(llm_query(p) for p in ps))``,
``create_task(llm_query(p))``, or a list of calls later handed to ``gather`` -- it must be an
awaitable, sent at once. Everywhere else (``x = llm_query(p)``, ``json.loads(llm_query(p))``) the
model expects the string itself. The cell's syntax says which is which: calls in value positions
are wrapped in ``__rlm_value__(...)``, which waits for the result.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

SUBCALLS = frozenset({"llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched"})
CONSUMERS = frozenset(
    {
        "gather",
        "create_task",
        "ensure_future",
        "wait",
        "wait_for",
        "as_completed",
        "shield",
        "run",
        "run_coroutine_threadsafe",
    }
)
COLLECTING_METHODS = frozenset({"append", "extend", "insert", "add", "setdefault", "update"})
VALUE_WRAPPER = "__rlm_value__"
ASYNC_NODES = (ast.Await, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith)


def _callee(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_subcall(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SUBCALLS


def _reachable(expr: ast.AST | None) -> Iterator[ast.Call]:
    """Sub-calls whose result flows, unchanged, into ``expr``'s value (through containers,
    comprehensions, conditionals and concurrency helpers, but not through other calls)."""
    if expr is None:
        return
    if _is_subcall(expr):
        yield expr  # type: ignore[misc]
        return
    if isinstance(expr, (ast.Starred, ast.Await, ast.NamedExpr)):
        yield from _reachable(expr.value)
    elif isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        for element in expr.elts:
            yield from _reachable(element)
    elif isinstance(expr, ast.Dict):
        for value in expr.values:
            yield from _reachable(value)
    elif isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        yield from _reachable(expr.elt)
    elif isinstance(expr, ast.DictComp):
        yield from _reachable(expr.value)
    elif isinstance(expr, ast.IfExp):
        yield from _reachable(expr.body)
        yield from _reachable(expr.orelse)
    elif isinstance(expr, ast.Call) and _callee(expr) in CONSUMERS:
        for arg in [*expr.args, *(k.value for k in expr.keywords)]:
            yield from _reachable(arg)


def _target_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Subscript):
        yield from _target_names(target.value)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)


def awaited_calls(tree: ast.AST) -> set[int]:
    """ids of the sub-call nodes that sit in an awaited (concurrent) position."""
    marked: set[int] = set()
    task_names: set[str] = set()  # names handed to gather & co., or awaited
    for node in ast.walk(tree):
        if isinstance(node, ast.Await):
            marked.update(id(c) for c in _reachable(node.value))
            task_names.update(n.id for n in ast.walk(node.value) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Call) and _callee(node) in CONSUMERS:
            marked.update(id(c) for c in _reachable(node))
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                task_names.update(n.id for n in ast.walk(arg) if isinstance(n, ast.Name))
    task_names -= SUBCALLS
    if not task_names:
        return marked
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(name in task_names for t in targets for name in _target_names(t)):
                marked.update(id(c) for c in _reachable(node.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if (
                node.func.attr in COLLECTING_METHODS
                and isinstance(owner, ast.Name)
                and owner.id in task_names
            ):
                for arg in node.args:
                    marked.update(id(c) for c in _reachable(arg))
    return marked


class _WrapValues(ast.NodeTransformer):
    def __init__(self, awaited: set[int]) -> None:
        self.awaited = awaited

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if _is_subcall(node) and id(node) not in self.awaited:
            wrapped = ast.Call(func=ast.Name(id=VALUE_WRAPPER, ctx=ast.Load()), args=[node], keywords=[])
            return ast.copy_location(wrapped, node)
        return node


def mark_value_calls(tree: ast.Module) -> ast.Module:
    """Wrap the sub-calls used as values, in cells that use await at all; others are left alone."""
    if not any(isinstance(node, ASYNC_NODES) for node in ast.walk(tree)):
        return tree
    awaited = awaited_calls(tree)
    return ast.fix_missing_locations(_WrapValues(awaited).visit(tree))
