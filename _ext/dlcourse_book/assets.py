"""Each page loads what it needs, once.

The themes load, on every page, three things most pages never use:

- ``fontawesome.js`` (1.5 MB), which turns a dozen ``<i class="fa-solid fa-…">`` icons
  into SVG. Here the build writes ``_static/dlcourse-icons.css`` instead: the icons the
  built pages use, drawn as CSS masks from the same Font Awesome paths (taken from the
  theme's own copy of the bundle at build time), so neither the script nor an icon
  font is downloaded;
- the search index and its scripts, which only the search page needs (the search
  button and Ctrl+K open a form that goes to that page);
- MathJax, which Sphinx adds to the root page because its table of contents includes
  pages with math; here it stays only on pages with math of their own.

It also drops repeated inline scripts (sphinx-thebe's and sphinx-togglebutton's
configuration is added twice, and a repeated ``const`` is an error in the console).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
ICONS_CSS = "dlcourse-icons.css"
FONTAWESOME_JS = Path("_static") / "scripts" / "fontawesome.js"

# <script ... src=".../name.js?...">, for the scripts a page other than search.html can do without.
_UNNEEDED_SCRIPT = re.compile(
    r'[ \t]*<script\b[^>]*\bsrc="(?:[^"]*/)?(?:scripts/fontawesome|searchtools|language_data|searchindex)\.js[^"]*"[^>]*>'
    r"\s*</script>[ \t]*\n?"
)
_FAMILIES = {"fa-solid": "fas", "fas": "fas", "fa-regular": "far", "far": "far", "fa-brands": "fab", "fab": "fab"}
_NOT_ICONS = {
    "fa-lg", "fa-xs", "fa-sm", "fa-xl", "fa-2xs", "fa-2xl", "fa-fw", "fa-spin", "fa-pulse", "fa-border",
    "fa-inverse", "fa-1x", "fa-2x", "fa-3x", "fa-4x", "fa-5x", "fa-layers", "fa-stack",
    *_FAMILIES,
}


# --------------------------------------------------------------------------- page head
def trim_head(html: str) -> Markup:
    """Jinja filter: the theme's head without the scripts this book serves otherwise."""
    return Markup(_UNNEEDED_SCRIPT.sub("", str(html)))


def _own_math(app: Sphinx, pagename: str) -> bool:
    return bool(app.env.get_domain("math").data["has_equations"].get(pagename, False))


def _is_mathjax(app: Sphinx, script: Any) -> bool:
    body = script.attributes.get("body", "") or ""
    filename = str(script.filename or "")
    mathjax = app.config.mathjax_path
    return bool(mathjax) and filename.endswith(mathjax) or body.startswith(("window.MathJax", "MathJax.Hub"))


def page_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Each script once; MathJax only where the page itself has math."""
    keep, seen = [], set()
    drop_mathjax = doctree is not None and not _own_math(app, pagename)
    for script in context.get("script_files", []):
        key = (script.filename or "", tuple(sorted((k, str(v)) for k, v in script.attributes.items())))
        if key in seen or (drop_mathjax and _is_mathjax(app, script)):
            continue
        seen.add(key)
        keep.append(script)
    context["script_files"] = keep


# --------------------------------------------------------------------------- icons
def fontawesome_icons(bundle: str) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(family, name) -> (width, height, SVG path) for every icon in Font Awesome's JS bundle.

    The bundle defines each family as ``var p={name:[w,h,[aliases],"unicode","path"],...}``
    followed by ``d("fas",p)`` (or ``far``, ``fab``).
    """
    icons: dict[tuple[str, str], tuple[int, int, str]] = {}
    entry = re.compile(r'(?:"([a-z0-9-]+)"|\b([a-z0-9]+)):\[(\d+),(\d+),\[([^\]]*)\],"[0-9a-f]*","([^"]+)"\]')
    for definition in re.finditer(r'd\("(fa[srb])",p\)', bundle):
        family = definition.group(1)
        start = bundle.rfind("var p={", 0, definition.start())
        for m in entry.finditer(bundle, start, definition.start()):
            width, height, path = int(m.group(3)), int(m.group(4)), m.group(6)
            names = [m.group(1) or m.group(2)] + re.findall(r'"([a-z0-9-]+)"', m.group(5))
            for name in names:
                icons.setdefault((family, name), (width, height, path))
    return icons


def icons_used(outdir: Path) -> set[tuple[str, str]]:
    used = set()
    for page in outdir.rglob("*.html"):
        for classes in re.findall(r'class="([^"]*\bfa[-srb][^"]*)"', page.read_text(encoding="utf-8")):
            words = classes.split()
            families = {_FAMILIES[w] for w in words if w in _FAMILIES}
            names = [w[3:] for w in words if w.startswith("fa-") and w not in _NOT_ICONS]
            for family in families:
                used.update((family, name) for name in names)
    return used


def icons_css(used: set[tuple[str, str]], icons: dict[tuple[str, str], tuple[int, int, str]]) -> str:
    classes = {"fas": ("fa-solid", "fas"), "far": ("fa-regular", "far"), "fab": ("fa-brands", "fab")}
    elements, glyphs, rules = [], [], []
    for family, name in sorted(used):
        width, height, path = icons[(family, name)]
        element = ",".join(f".{c}.fa-{name}" for c in classes[family])
        glyph = ",".join(f".{c}.fa-{name}::before" for c in classes[family])
        svg = quote(
            f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}'><path d='{path}'/></svg>",
            safe=" /=:,.-",
        )
        rules.append(
            f"{glyph}{{width:{width / height:.4f}em;"
            f"-webkit-mask-image:url(\"data:image/svg+xml,{svg}\");mask-image:url(\"data:image/svg+xml,{svg}\")}}"
        )
        elements.append(element)
        glyphs.append(glyph)
    return (
        "/* Generated by _ext/dlcourse_book/assets.py from the theme's Font Awesome bundle "
        "(Font Awesome Free, icons CC BY 4.0): only the icons the book's pages use. */\n"
        # The icon's own font would still be downloaded for the metrics of its (empty) line.
        + ",".join(elements) + "{font-family:inherit}\n"
        + ",".join(glyphs)
        + "{content:\"\";display:inline-block;height:1em;vertical-align:-0.125em;background-color:currentColor;"
        "-webkit-mask:no-repeat center/contain;mask:no-repeat center/contain}\n"
        + "\n".join(rules) + "\n"
    )


def write_icons(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    bundle = outdir / FONTAWESOME_JS
    if not bundle.exists():
        logger.warning(f"dlcourse_book: {FONTAWESOME_JS} not found; the page icons will be missing")
        return
    icons = fontawesome_icons(bundle.read_text(encoding="utf-8"))
    used = icons_used(outdir)
    missing = sorted(f"{family} fa-{name}" for family, name in used if (family, name) not in icons)
    if missing:
        logger.warning(f"dlcourse_book: no Font Awesome path for {', '.join(missing)}")
    (outdir / "_static" / ICONS_CSS).write_text(icons_css(used & icons.keys(), icons), encoding="utf-8")


# --------------------------------------------------------------------------- wiring
def _add_templates(app: Sphinx, config: Any) -> None:
    config.templates_path = [str(TEMPLATES), *config.templates_path]


def _add_filter(app: Sphinx) -> None:
    if hasattr(app.builder, "templates"):
        app.builder.templates.environment.filters["dlcourse_trim_head"] = trim_head


def setup(app: Sphinx) -> None:
    app.connect("config-inited", _add_templates)
    app.connect("builder-inited", _add_filter)
    app.connect("html-page-context", page_scripts, priority=900)
    app.connect("build-finished", write_icons)
    app.add_css_file(ICONS_CSS)
