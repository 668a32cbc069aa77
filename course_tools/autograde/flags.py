"""Flags for the instructor: exercise cells that reach for the grader's machinery.

The sandbox and the checks decide the points; these flags decide nothing. They
name what an honest answer never needs, so an instructor can look: a cell that
switches off the profiler that watches for calls of the reference answer,
digs in the interpreter's memory or frames for the course's functions, copies
the reference's source, imports the grader, or opens a network connection or a
process. Found in the cell's syntax tree (so a name inside a string or a
comment does not count), never by running it.
"""

from __future__ import annotations

import ast

__all__ = ["tampering"]

#: attribute or function name -> why an instructor may want to look
NAMES = {
    "setprofile": "sets the interpreter's profiler (the grader watches for calls of the reference with it)",
    "settrace": "sets a trace function (it can hide calls from the grader)",
    "_getframe": "reads the interpreter's call frames",
    "f_back": "reads the caller's frame",
    "f_globals": "reads a frame's globals",
    "get_referrers": "searches the interpreter's memory (gc) for objects",
    "get_objects": "searches the interpreter's memory (gc) for objects",
    "get_referents": "searches the interpreter's memory (gc) for objects",
    "__code__": "reads or replaces a function's code object",
    "getsource": "reads a function's source code (a copy of the reference?)",
    "FunctionType": "builds a function from a code object",
}

#: module (first part) -> why
MODULES = {
    "course_tools": "imports the instructor's tools",
    "ctypes": "imports ctypes (raw memory access)",
    "socket": "imports socket (network)",
    "urllib": "imports urllib (network)",
    "http": "imports http (network)",
    "requests": "imports requests (network)",
    "subprocess": "imports subprocess (starts programs)",
    "multiprocessing": "imports multiprocessing (starts processes)",
}


def _module_flags(name: str | None) -> list[str]:
    if not name:
        return []
    if name.startswith("course_utils.grading") or name == "course_utils.grading":
        return ["imports the grading package"]
    first = name.split(".", 1)[0]
    return [MODULES[first]] if first in MODULES else []


def tampering(code: str) -> list[str]:
    """What in an exercise cell an instructor may want to look at (empty for an ordinary answer)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _module_flags(alias.name)
        elif isinstance(node, ast.ImportFrom):
            found += _module_flags(node.module)
            found += [NAMES[a.name] for a in node.names if a.name in NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in NAMES:
            found.append(NAMES[node.attr])
        elif isinstance(node, ast.Name) and node.id in NAMES:
            found.append(NAMES[node.id])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append("imports a module by name at run time (__import__)")
    return list(dict.fromkeys(found))
