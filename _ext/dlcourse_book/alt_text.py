"""Alt text for the figures that notebook cells draw, and figures a phone can read.

A figure stored in a notebook output has no alt text of its own, and Sphinx falls
back to the image's file path. This module writes one from the cell that drew it,
in this order of preference:

1. an alt text already given in the cell's metadata (myst-nb's ``mystnb.image.alt``);
2. an explicit ``# alt: ...`` comment in the cell;
3. what the cell writes on the figure: its suptitle, panel titles, axis labels,
   legend entries and colour-bar label (``set_title``, ``ax.set(title=...)``,
   ``fig.suptitle``, ``title=`` passed to a plotting helper, ``label=`` of a curve);
4. the section the figure illustrates, opening the text when the cell gives the figure no title.

Every figure also gets its natural width as its size, so that Sphinx links it to the
full-size file (a click or tap opens it), and the class ``dl-figure`` that the book's
CSS uses to show it at full size, scrolling sideways in its own box, on a phone.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import imagesize
from docutils import nodes
from sphinx.application import Sphinx

ALT_COMMENT = re.compile(r"^[ \t]*#[ \t]*alt:[ \t]*(\S.*?)[ \t]*$", re.M | re.I)
MAX_LENGTH = 400

# Text a call writes on a figure: method or function name -> role of its first argument.
_CALL_ROLES = {
    "suptitle": "suptitle", "title": "title", "set_title": "title",
    "xlabel": "x", "set_xlabel": "x", "ylabel": "y", "set_ylabel": "y",
}
# The same roles given as keywords: ax.set(title=..., xlabel=...), helper(title=...).
_KEYWORD_ROLES = {"suptitle": "suptitle", "title": "title", "xlabel": "x", "ylabel": "y"}
# Calls whose label= is a legend entry (a colour bar's label= names its scale instead).
_CURVE_CALLS = {
    "plot", "scatter", "bar", "barh", "hist", "step", "stairs", "fill_between", "errorbar",
    "loglog", "semilogx", "semilogy", "axhline", "axvline", "stem", "plot_function",
}
# What the book's plotting helpers draw, for a cell that calls one without a title.
_HELPERS = {
    "plot_learning_curves": "Learning curves: loss and metrics epoch by epoch",
    "plot_decision_boundary": "The decision regions of a classifier over the inputs x₁ and x₂",
    "show_images": "A grid of images",
    "plot_confusion_matrix": "Confusion matrix: true classes against predicted classes",
    "plot_function": "Graph of a function and of its derivative",
}

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "phi": "φ", "psi": "ψ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ", "nabla": "∇",
    "partial": "∂", "cdot": "·", "times": "×", "infty": "∞", "approx": "≈", "leq": "≤",
    "geq": "≥", "ell": "ℓ", "sqrt": "√", "to": "→", "log": "log", "exp": "exp",
}
# Sub- and superscripts Unicode has a character for: (plain, script).
_SUB = ("0123456789+-=()ijknt", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ᵢⱼₖₙₜ")
_SUP = ("0123456789+-=()nT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿᵀ")


# --------------------------------------------------------------------------- text
def plain(text: str) -> str:
    """Turn a matplotlib label with TeX math into plain text a screen reader can read."""

    def script(match: re.Match, table: tuple[str, str]) -> str:
        body = match.group(1) or match.group(2)
        if body and all(ch in table[0] for ch in body):
            return body.translate(str.maketrans(*table))
        return " " + body  # no such script character: x_{max} reads "x max"

    text = text.replace("$", "")
    text = re.sub(r"\\(?:hat|widehat)\{?\s*([A-Za-z])\}?", "\\1\u0302", text)
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _GREEK.get(m.group(1), ""), text)
    text = re.sub(r"_\{([^{}]*)\}|_([A-Za-z0-9])", lambda m: script(m, _SUB), text)
    text = re.sub(r"\^\{([^{}]*)\}|\^([A-Za-z0-9])", lambda m: script(m, _SUP), text)
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    return re.sub(r"\s+", " ", text).strip(" .;:")


def _string(node: ast.AST) -> str | None:
    """The text of a string literal, with ``…`` for each value an f-string fills in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                parts.append("…")
        return "".join(parts)
    return None


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def figure_text(source: str) -> dict[str, list[str]]:
    """What a cell writes on its figures, by role, in order, without repeats."""
    found: dict[str, list[str]] = {k: [] for k in ("suptitle", "title", "x", "y", "legend", "scale", "helper")}
    # IPython magics and shell escapes are not Python.
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return found

    def add(role: str, text: str | None) -> None:
        text = plain(text) if text else ""
        # An f-string whose words are all filled in at run time ("lr = …: …") says nothing.
        if "…" in text and not re.search(r"[^\W\d_]{3}", text.replace("…", "")):
            return
        if text and text not in found[role]:
            found[role].append(text)

    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
    for call in calls:
        name = _name(call.func)
        if name in _HELPERS and name not in found["helper"]:
            found["helper"].append(name)
        if name in _CALL_ROLES and call.args:
            add(_CALL_ROLES[name], _string(call.args[0]))
        for keyword in call.keywords:
            if keyword.arg in _KEYWORD_ROLES:
                add(_KEYWORD_ROLES[keyword.arg], _string(keyword.value))
            elif keyword.arg == "label":
                role = "legend" if name in _CURVE_CALLS else "scale" if name == "colorbar" else None
                if role:
                    add(role, _string(keyword.value))
    return found


def describe(source: str, subject: str) -> str:
    """An alt text from a cell's source.

    ``subject`` opens the text when the cell gives its figure no title, e.g.
    "Figure illustrating “Training a neuron”".
    """
    explicit = ALT_COMMENT.search(source)
    if explicit:
        return _shorten(explicit.group(1))
    found = figure_text(source)
    sentences = []
    titles = found["title"]
    if found["suptitle"]:
        sentences.append(found["suptitle"][0] + (". Panels: " + "; ".join(titles) if titles else ""))
    elif titles:
        sentences.append(("Panels: " if len(titles) > 1 else "") + "; ".join(titles))
    elif found["helper"]:
        sentences.append(_HELPERS[found["helper"][0]])
    else:
        sentences.append(subject)
    axes = []
    if found["x"]:
        axes.append("horizontal axis " + " / ".join(found["x"]))
    if found["y"]:
        axes.append("vertical axis " + " / ".join(found["y"]))
    if axes:
        sentences.append("; ".join(axes))
    if found["legend"]:
        sentences.append("legend: " + ", ".join(found["legend"][:8]))
    if found["scale"]:
        sentences.append("colour scale: " + ", ".join(found["scale"]))
    text = ""
    for sentence in sentences:
        if text:
            text += " " if text.endswith(("?", "!", ".")) else ". "
        text += sentence[0].upper() + sentence[1:]
    return _shorten(text)


def _shorten(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_LENGTH:
        text = text[: MAX_LENGTH - 1].rsplit(" ", 1)[0] + "…"
    return text if text.endswith((".", "…", "?", "!")) else text + "."


# --------------------------------------------------------------------------- doctree
def section_title(node: nodes.Node) -> str | None:
    """The title of the innermost section holding ``node`` (None outside any section)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.section) and parent.children and isinstance(parent[0], nodes.title):
            return parent[0].astext()
        parent = parent.parent
    return None


def _notebook_cells(app: Sphinx, docname: str) -> list[dict]:
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return []
    return json.loads(path.read_text(encoding="utf-8")).get("cells", [])


def _cell_source(cells: list[dict], index: int) -> str:
    if index is None or not 0 <= index < len(cells):
        return ""
    source = cells[index].get("source", "")
    return "".join(source) if isinstance(source, list) else source


def add_alt_text(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    cells = None
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        images = [
            image
            for output in cell.findall(nodes.container)
            if output.get("nb_element") == "cell_code_output"
            for image in output.findall(nodes.image)
        ]
        if not images:
            continue
        if cells is None:
            cells = _notebook_cells(app, docname)
        section = section_title(cell) or next(iter(doctree.findall(nodes.title)), doctree).astext()
        text = describe(_cell_source(cells, cell.get("cell_index")), f"Figure illustrating “{section}”")
        for number, image in enumerate(images, 1):
            if not image.get("alt"):
                image["alt"] = text if len(images) == 1 else f"{text} (figure {number} of {len(images)})"
            image["classes"].append("dl-figure")
            _give_natural_width(app, docname, image)


def _give_natural_width(app: Sphinx, docname: str, image: nodes.image) -> None:
    """Size the image at its natural width (CSS caps it at the column on wide screens).

    A sized image is one Sphinx links to its full-size file (``html_scaled_image_link``).
    """
    if any(key in image for key in ("width", "height", "scale")):
        return
    # Once Sphinx has collected the image, its candidates hold the path from the source folder.
    places = [Path(app.srcdir, image.get("candidates", {}).get("*", "")), Path(app.env.relfn2path(image["uri"], docname)[1])]
    path = next((place for place in places if place.is_file()), None)
    if path is None:
        return
    width, _ = imagesize.get(str(path))
    if width > 0:
        image["width"] = f"{width}px"


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", add_alt_text)
