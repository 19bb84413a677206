"""The documentation holds the whole contract: every config key, every file column and every
CLI flag appears in docs/, and nothing in the repository points at a document outside it.
(The pages themselves are built with warnings as errors, and their examples run, in .ci/run:
``sphinx-build -W``; this test needs no Sphinx.)"""

import argparse
import re
from pathlib import Path

import pytest

from omnifill import Config
from omnifill.cli import _parser
from omnifill.io import ORDER_COLUMNS, PLAN_COLUMNS, STORE_COLUMNS
from omnifill.options import REASONS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="the docs/ folder is not beside the tests")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_every_config_key_is_in_the_cost_model_page_with_its_default():
    text = page("cost-model.md")
    for section, keys in Config().to_dict().items():
        for key, default in keys.items():
            row = next((ln for ln in text.splitlines() if f"`[{section}] {key}`" in ln), None)
            assert row is not None, f"[{section}] {key} is not in docs/cost-model.md"
            if isinstance(default, str):  # a name or a path: the default as written, or none
                assert (f"| {default} |" if default else "|  |") in row, (key, default, row)
            else:
                assert f"{default:g}" in row.replace(",", "") or str(default) in row, (key, default, row)


def test_every_file_column_plan_column_and_reason_is_in_the_docs():
    formats = page("file-formats.md")
    for col in STORE_COLUMNS + ("sku", "on_hand", "safety_stock") + ORDER_COLUMNS + PLAN_COLUMNS:
        assert f"`{col}`" in formats, col
    reasons = page("cost-model.md")
    for r in REASONS:
        assert f"`{r}`" in reasons, r


def test_every_cli_flag_is_in_the_parser_the_cli_page_is_generated_from():
    # the CLI page renders omnifill.cli._parser (sphinx-argparse), so a flag cannot be left
    # out; this holds the page to that parser and the commands table to its commands
    assert ":func: _parser" in page("cli.md") and ":module: omnifill.cli" in page("cli.md")
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    table = page("cli.md")
    for name in sub.choices:
        assert f"`omnifill {name}" in table, name


def test_nothing_names_a_document_outside_the_repository():
    # "DESIGN" was the name of the contract this project was built from; the docs hold it now
    pattern = re.compile(r"\bDESIGN\b")
    for folder in ("src", "docs", "tests", "benchmarks", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".pyx", ".pyi", ".md", ".toml", ".txt") and "_build" not in path.parts:
                text = path.read_text(encoding="utf-8", errors="replace")
                if path.name == "test_docs.py":
                    text = text.replace('"DESIGN"', "").replace(r"\bDESIGN\b", "")
                assert not pattern.search(text), path
    for name in ("README.md", "pyproject.toml", "setup.py"):
        assert not pattern.search((ROOT / name).read_text(encoding="utf-8")), name
