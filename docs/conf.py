"""Sphinx configuration for the omnifill documentation.

Why Sphinx: autodoc builds the API reference from the docstrings of the installed package,
sphinx-argparse builds the CLI reference from omnifill's own argparse parser (so neither can
drift from the code), and the doctest builder runs the examples of the pages. Pages are
Markdown (MyST), like the README and benchmarks/README.md, which the benchmarks page includes
whole. Build: ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors) and
``sphinx-build -W -b doctest docs docs/_build/doctest``.
"""

import omnifill

project = "omnifill"
author = "The omnifill developers"
copyright = "2026, The omnifill developers"
version = release = omnifill.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
html_theme = "alabaster"
html_title = f"omnifill {release}"
