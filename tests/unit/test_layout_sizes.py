"""Size bounds that keep the code readable: no function over 60 lines in the package,
testkit/ or devcluster/, no file over 400 lines in testkit/, devcluster/ or bench/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_layers_contract import ROOT

FUNCTION_MAX_LINES = 60
TOOLING_FILE_MAX_LINES = 400


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def long_functions(source: str, limit: int) -> list[tuple[str, int]]:
    """(name, lines) of each function or method longer than `limit` lines, decorators and
    docstring included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found.append((node.name, lines))
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("def f():\n" + "    x = 1\n" * 59, [], id="60-lines"),
        pytest.param("def f():\n" + "    x = 1\n" * 60, [("f", 61)], id="61-lines"),
        pytest.param(
            "class C:\n    async def m(self):\n" + "        pass\n" * 61,
            [("m", 62)],
            id="method",
        ),
    ],
)
def test_long_functions_are_found(source: str, expected: list[tuple[str, int]]) -> None:
    """The checker itself counts a function's lines, methods and async ones included."""
    assert long_functions(source, FUNCTION_MAX_LINES) == expected


def test_no_function_is_over_60_lines() -> None:
    """Every function of nodecount_scaler/, testkit/ and devcluster/ fits on one screen."""
    files = python_files("nodecount_scaler", "testkit", "devcluster")
    assert len(files) > 20
    over = [(p.name, f) for p in files if (f := long_functions(p.read_text(), FUNCTION_MAX_LINES))]
    assert not over, f"functions over {FUNCTION_MAX_LINES} lines: {over}"


def test_no_tooling_file_is_over_400_lines() -> None:
    """testkit/, devcluster/ and bench/ stay split by concern."""
    files = python_files("testkit", "devcluster", "bench")
    assert len(files) > 10
    over = [
        (p.name, n)
        for p in files
        if (n := len(p.read_text().splitlines())) > TOOLING_FILE_MAX_LINES
    ]
    assert not over, f"files over {TOOLING_FILE_MAX_LINES} lines: {over}"
