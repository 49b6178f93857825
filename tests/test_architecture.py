"""The house's rules run with the suite (CI runs exactly the README's test command): the import contracts,
lint, format, types of core/, the width of every folder, benchmarks out of product packages, the zone named
once, and no pointer outside the repository."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "core", "handlers", "nlq", "storage")
MAX_MODULES = 20


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True)


def test_import_contracts_hold():
    """Layers top to bottom; core imports no framework; the emulator fenced; one LangChain door; product never
    imports tests; visits and the SOP talk through events."""
    result = _run(_tool("lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = _run(_tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied():
    result = _run(_tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_core():
    result = _run(_tool("mypy"))  # files and options: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr


def _product_files() -> list[Path]:
    return [p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts]


def test_no_folder_is_wider_than_twenty_modules():
    folders = {p.parent for p in _product_files()} | {p.parent for p in (ROOT / "tests").rglob("*.py")}
    wide = {
        str(f.relative_to(ROOT)): n
        for f in folders
        if (n := len([m for m in f.glob("*.py") if m.name != "__init__.py"])) > MAX_MODULES
    }
    assert not wide, wide


def test_no_benchmark_in_product_packages():
    benches = [str(p.relative_to(ROOT)) for p in _product_files() if re.search(r"bench|loadgen", p.name)]
    assert not benches, benches


def test_the_zone_is_named_once():
    """The organisation's zone appears as a value once in product code (core/clock.py); prose may name it."""
    named = []
    for p in _product_files():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "Asia/Shanghai":
                named.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert named == ["core/clock.py:12"], named


# a pointer to the planning folder beside the checkout (its requirements and research), which a clone lacks
OUTSIDE = re.compile(r"\.\./shared|shared/(spec|research)/")


def test_nothing_points_outside_the_repository():
    """The repository carries its own contracts (docs/): no file points at the folder beside the checkout."""
    files = [
        p
        for p in ROOT.rglob("*")
        if p.suffix in (".py", ".md", ".toml", ".yaml", ".yml")
        and p.is_file()
        and not {".venv", ".git", "node_modules"} & set(p.parts)
    ]
    pointing = [
        str(p.relative_to(ROOT))
        for p in files
        if OUTSIDE.search(p.read_text(encoding="utf-8", errors="ignore"))
    ]
    assert not pointing, pointing
