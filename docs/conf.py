"""Sphinx configuration of the spikegrad documentation site.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (needs the ``docs`` extra).
The surrogate pages, the translation table and the figures are generated from the
definitions at build time (``_ext/spikegrad_docs.py``); the tutorials' code runs during
the build; math renders offline with a local MathJax.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

import mathjax  # django-static-mathjax: MathJax 3 as static files, no network

import spikegrad

project = "spikegrad"
author = "the spikegrad authors"
copyright = "the spikegrad authors"
release = version = spikegrad.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "spikegrad_docs",
    "spikegrad_tutorials",
    "spikegrad_api",
    "sphinx_copybutton",
]
myst_enable_extensions = ["dollarmath", "amsmath"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
# included by choosing.md and api.md, never pages of their own
exclude_patterns = ["_build", "README.md", "generated/defaults.md", "generated/api_modules.md"]
suppress_warnings = ["myst.header"]

html_theme = "pydata_sphinx_theme"
html_title = f"spikegrad {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = [os.path.join(os.path.dirname(mathjax.__file__), "static")]
mathjax_path = "mathjax/es5/tex-mml-chtml.js"  # served from _static: no CDN

autodoc_default_options = {"members": True, "undoc-members": False}
autodoc_mock_imports = ["cupy"]
autodoc_inherit_docstrings = False  # framework base classes' docs hold their own labels
autosummary_generate = False  # the module pages document every name themselves
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
nitpicky = False
