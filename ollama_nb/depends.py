"""Which earlier cells a cell depends on: the names it uses that they defined (``--fix``).

Read with :mod:`ast`: a cell's top-level bindings (assignments, imports, functions, classes,
loop and ``with`` targets, not a function's locals) and every name it reads. IPython's own lines
(``%magic``, ``!shell``) count as nothing; a cell magic or code that does not parse defines
nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence


def dependencies(code: str, before: Sequence[str]) -> list[int]:
    """Which of the earlier cells (their code, in run order) last defined a name ``code`` uses,
    then those their code uses, the nearest first (breadth first), as indexes into ``before``.
    Cells Python cannot parse (magics) define nothing."""
    wanted, seen, found = list(names_used(code)), set(), []
    done: set[int] = set()
    while wanted:
        name = wanted.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for index in range(len(before) - 1, -1, -1):
            if name in names_defined(before[index]):
                if index not in done:
                    done.add(index)
                    found.append(index)
                    wanted += sorted(names_used(before[index]) - seen)
                break
    return found


def _parse(code: str) -> ast.Module | None:
    """The cell as Python, its IPython lines (``%magic``, ``!shell``) made ``pass``; None for a
    cell magic or what does not parse."""
    if code.lstrip().startswith("%%"):
        return None
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in code.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None


def names_used(code: str) -> set[str]:
    tree = _parse(code)
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def names_defined(code: str) -> set[str]:
    """Names a cell binds at the top level (assignments, imports, functions, classes, loop and
    ``with`` targets), not the locals of its functions."""
    tree = _parse(code)
    return _bound(tree.body) if tree is not None else set()


def _bound(statements: Iterable[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in statement.names}
        else:
            for node in ast.iter_child_nodes(statement):
                if isinstance(node, ast.stmt):
                    names |= _bound([node])
                elif isinstance(node, ast.ExceptHandler):
                    names |= _bound(node.body)
                elif isinstance(node, (ast.expr, ast.withitem)):
                    names |= {
                        n.id
                        for n in ast.walk(node)
                        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                    }
    return names
