"""The ``dlcourse-datasets`` directive: the data sets the book downloads, as a table.

The rows come from ``dlcourse_utils.data.DATASETS`` (the files of each data set)
and ``NLTK_CORPORA`` (keyed ``nltk:NAME``); the directive's content gives each one its
title, its authors and its licence, one line per data set::

    ```{dlcourse-datasets}
    mnist | MNIST | Yann LeCun, Corinna Cortes, Christopher J.C. Burges | CC BY-SA 3.0
    nltk:wordnet | WordNet 3.0 | Princeton University (via NLTK) | WordNet 3.0 License
    ```

A data set of the package without a line, or a line for none, is a build warning
(an error under ``-W``), so the table cannot drift from the code.
"""
from __future__ import annotations

import importlib
import posixpath

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

HEADER = ("Data set", "Folder and files", "Authors", "Licence")


def _paragraph(*children: nodes.Node) -> nodes.paragraph:
    para = nodes.paragraph()
    para.extend(children)
    return para


def _lines(items: list[nodes.Node]) -> nodes.line_block:
    """Inline items one per line."""
    block = nodes.line_block()
    for item in items:
        line = nodes.line()
        line += item
        block += line
    return block


class DatasetsTable(SphinxDirective):
    has_content = True
    option_spec = {"module": str}

    def run(self) -> list[nodes.Node]:
        data = importlib.import_module(self.options.get("module", "dlcourse_utils.data"))
        described = {}
        for line in self.content:
            if not line.strip():
                continue
            fields = [f.strip() for f in line.split("|")]
            if len(fields) != 4:
                logger.warning(f"dlcourse-datasets: expected 'key | title | origin | licence', got {line!r}",
                               location=self.get_location())
                continue
            described[fields[0]] = fields[1:]

        # (key, how code names it, folder in the cache and the mirror, file names)
        rows = []
        for key, files in data.DATASETS.items():
            folders = sorted({posixpath.dirname(f.path) for f in files.values()})
            rows.append((key, f'DATASETS["{key}"]', ", ".join(f + "/" for f in folders), [f.name for f in files.values()]))
        for corpus in data.NLTK_CORPORA:
            rows.append((f"nltk:{corpus}", f'ensure_nltk("{corpus}")', "nltk_data/corpora/", [corpus]))

        known = {row[0] for row in rows}
        for key in sorted(known - described.keys()):
            logger.warning(f"dlcourse-datasets: {key} has no title, origin and licence line", location=self.get_location())
        for key in sorted(described.keys() - known):
            logger.warning(f"dlcourse-datasets: {key} is not a data set of {data.__name__}", location=self.get_location())

        table = nodes.table(classes=["dl-datasets", "colwidths-auto"])
        group = nodes.tgroup(cols=len(HEADER))
        table += group
        for _ in HEADER:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        head += self._row([_paragraph(nodes.Text(h)) for h in HEADER])
        body = nodes.tbody()
        group += body
        for key, code, folder, files in rows:
            if key not in described:
                continue
            title, origin, licence = described[key]
            body += self._row([
                _lines([nodes.strong(text=title), nodes.literal(text=code)]),
                _lines([nodes.literal(text=folder), *(nodes.literal(text=f) for f in files)]),
                _paragraph(nodes.Text(origin)),
                _paragraph(nodes.Text(licence)),
            ])
        return [table]

    @staticmethod
    def _row(cells: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for content in cells:
            entry = nodes.entry()
            entry += content
            row += entry
        return row


def setup(app: Sphinx) -> None:
    app.add_directive("dlcourse-datasets", DatasetsTable)
