"""The book's own Sphinx extension: what the web book adds to the notebooks at build time.

Nothing here touches a notebook file; everything happens while Sphinx reads and writes:

- :mod:`.alt_text` gives every figure a notebook cell drew an alt text that says what
  it shows (from the cell's titles and axis labels, an ``# alt:`` comment or the
  section it illustrates), and marks wide figures so a phone can show them legibly;
- :mod:`.solutions` puts each exercise's reference solution, read from ``solutions/``,
  in a collapsed block under the exercise on the exercise pages;
- :mod:`.datasets` documents ``dlcourse_utils.data.DATASETS`` as a table;
- :mod:`.assets` keeps each page to what it needs: a few icons instead of the whole
  Font Awesome bundle, MathJax only where there is math, the search index only on
  the search page, every script once.

Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""
from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

from . import alt_text, assets, datasets, solutions


def setup(app: Sphinx) -> dict[str, Any]:
    alt_text.setup(app)
    solutions.setup(app)
    datasets.setup(app)
    assets.setup(app)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
