"""The web book builds with warnings as errors, and a real browser finds every page whole.

The build goes to a temporary folder (never the reader's ``_build``). The browser
tests drive Debian's Chromium through Playwright against a real HTTP server on
127.0.0.1 that, like GitHub Pages and most static hosts, sends text gzip-compressed.
Every page is opened twice, on a phone (390×844, touch) and on a desktop (1366×900),
each time in a fresh browser context with an empty cache, and audited once
(:func:`audit_page`); the tests below then check what the audits found: math typeset
by the locally served MathJax, every image loaded, no request failed or left the
machine, no console error, both sidebar drawers open and close, nothing scrolls the
page sideways, each page's weight, axe-core's accessibility audit, alt text, and
figures a phone can read. Set ``DLCOURSE_BOOK_REPORT=path.json`` to keep the
measurements.
"""
from __future__ import annotations

import functools
import gzip
import html as html_lib
import http.server
import json
import mimetypes
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

import notebooks

ROOT = notebooks.ROOT
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync", "--disable-quic",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
DEVICES = {"phone": PHONE, "desktop": DESKTOP}
#: Bytes a page may transfer, all its requests together, the figures of its own content aside.
WEIGHT_LIMIT = 1_500_000
#: On a phone a figure is drawn at least this fraction of its natural size, so its labels stay legible.
MIN_FIGURE_SCALE = 0.7


def toc_files() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    return ["intro", *re.findall(r"^\s*- file: (\S+)\s*$", toc, re.M)]


def source_of(page: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (ROOT / f"{page}{suffix}").exists():
            return ROOT / f"{page}{suffix}"
    raise FileNotFoundError(page)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run(
        [str(jupyter_book), "build", "-W", "--keep-going", "--path-output", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return out / "_build" / "html"


def built_pages(html: Path) -> list[str]:
    """Every HTML page of the build except the redirect that stands in for index.html."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not p.relative_to(html).as_posix().startswith(("_static/", "_sources/"))
        and 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8")[:500]
    )


def test_book_builds_every_toc_page(html):
    for page in toc_files():
        built = html / ("index.html" if page == "intro" and not (html / "intro.html").exists() else f"{page}.html")
        assert built.exists(), f"{page} was not built"


def test_math_is_served_locally_never_from_a_cdn(html):
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, page


def test_hidden_cells_are_hidden_and_outputs_are_rendered(html):
    chapters = sorted(html.glob("chapters/*.html"))
    assert chapters
    for page in chapters:
        text = page.read_text(encoding="utf-8")
        assert "colab-badge.svg" not in text, f"{page.name}: the Colab badge cell should be removed"
        setup_comment = notebooks.setup_source().splitlines()[0].lstrip("# ")
        assert setup_comment not in text, f"{page.name}: the Colab set-up cell should be removed"
        assert "data:image/png" in text or re.search(r'<img[^>]+_images/', text), f"{page.name}: no plot"


def test_api_reference_documents_the_helpers(html):
    text = (html / "reference" / "api.html").read_text(encoding="utf-8")
    for name in ("setup_notebook", "check", "check_gradient", "load_mnist", "plot_decision_boundary"):
        assert f'id="dlcourse_utils.' in text and name in text, name


def test_api_reference_lists_the_datasets_as_a_table_not_their_repr(html):
    from dlcourse_utils.data import DATASETS, NLTK_CORPORA

    text = (html / "reference" / "api.html").read_text(encoding="utf-8")
    assert "RemoteFile(path=" not in text, "the DATASETS value is printed"
    table = re.search(r'<table[^>]*class="[^"]*dl-datasets.*?</table>', text, re.S)
    assert table, "no data-set table on the API page"
    rows = [html_lib.unescape(row) for row in re.findall(r"<tr.*?</tr>", table.group(0), re.S)[1:]]
    names = [*(f'DATASETS["{key}"]' for key in DATASETS), *(f'ensure_nltk("{corpus}")' for corpus in NLTK_CORPORA)]
    assert len(rows) == len(names)
    for name, row in zip(names, rows):
        assert name in row, name
        key = name.split('"')[1]
        files = DATASETS[key].values() if key in DATASETS else ()
        assert all(f.name in row and f.path.rsplit("/", 1)[0] in row for f in files), name
        assert re.search(r"(licen[cs]e|CC BY|MIT|BSD|public domain)", row, re.I), f"{name}: no licence"


def test_exercise_pages_offer_each_solution_collapsed_and_the_notebooks_keep_their_stubs(html):
    for solution in sorted((ROOT / "solutions").glob("*_solutions.ipynb")):
        exercise = notebooks.exercise_path(solution)
        assert notebooks.BEGIN not in exercise.read_text(encoding="utf-8"), f"{exercise.name} holds an answer"
        cells = [c for c in nbformat.read(solution, as_version=4).cells
                 if c.cell_type == "code" and notebooks.BEGIN in c.source]
        page = (html / "exercises" / exercise.with_suffix(".html").name).read_text(encoding="utf-8")
        blocks = re.findall(r"<details\b([^>]*)>(.*?)</details>", page, re.S)
        blocks = [(attrs, body) for attrs, body in blocks if "dl-solution" in attrs]
        assert len(blocks) == len(cells), f"{exercise.name}: {len(blocks)} solution blocks for {len(cells)} exercises"
        for (attrs, body), cell in zip(blocks, cells):
            assert " open" not in attrs, f"{exercise.name}: a solution is open by default"
            shown = html_lib.unescape(re.sub(r"<[^>]+>", "", body))
            answer = re.search(rf"{re.escape(notebooks.BEGIN)}\n(.*?)[ \t]*{re.escape(notebooks.END)}", cell.source, re.S)
            for line in answer.group(1).splitlines():
                assert line.strip() in shown, f"{exercise.name}: {line.strip()!r} missing from its solution block"
            assert notebooks.BEGIN not in shown


def test_figures_take_their_alt_text_from_the_cell_that_drew_them(html):
    alts = [html_lib.unescape(alt)
            for page in sorted(html.glob("chapters/*.html"))
            for alt in re.findall(r'<img alt="([^"]*)" class="dl-figure', page.read_text(encoding="utf-8"))]
    assert len(alts) >= 10
    # The section heading stands in only when a cell writes no title, label or legend at all.
    fallbacks = [alt for alt in alts if alt.startswith("Figure illustrating")]
    assert len(fallbacks) <= 0.2 * len(alts), f"{len(fallbacks)} of {len(alts)} figures: {fallbacks}"


def test_pages_load_each_script_once_and_only_the_scripts_they_need(html):
    for page_path in built_pages(html):
        text = (html / page_path).read_text(encoding="utf-8")
        head = text.split("</head>", 1)[0]
        scripts = re.findall(r"<script\b.*?</script>", head, re.S)
        repeated = {s for s in scripts if scripts.count(s) > 1}
        assert not repeated, f"{page_path}: scripts loaded twice: {repeated}"
        assert "fontawesome.js" not in head, f"{page_path}: loads the whole Font Awesome bundle"
        if page_path != "search.html":
            assert "searchindex.js" not in text, f"{page_path}: loads the search index"
        assert re.search(r'<link rel="icon" href="[^"]*favicon', head), f"{page_path}: no favicon"
        if "tex-chtml.js" in head:
            assert 'class="math' in text, f"{page_path}: loads MathJax but has no math"


# --------------------------------------------------------------------------- browser
class _StaticHost(http.server.SimpleHTTPRequestHandler):
    """Serves the built book as a static host does: text gzip-compressed when asked for."""

    COMPRESSED = {".html", ".css", ".js", ".svg", ".json", ".txt", ".map"}
    _cache: dict[Path, bytes] = {}
    _lock = threading.Lock()

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not (path.is_file() and path.suffix in self.COMPRESSED and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().do_GET()
        with self._lock:
            if path not in self._cache:
                self._cache[path] = gzip.compress(path.read_bytes(), compresslevel=6)
            body = self._cache[path]
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest's output clean
        pass


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_StaticHost, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture(scope="module")
def server(html):
    httpd = serve(html)
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("DLCOURSE_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here (DLCOURSE_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("no Chromium: install Debian's `chromium` package to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def axe_script() -> str:
    """axe-core, as bundled by the axe-playwright-python wheel (installed, never fetched)."""
    from axe_playwright_python.base import AXE_FILE_PATH

    return Path(AXE_FILE_PATH).read_text(encoding="utf-8")


_MEASURE_JS = """() => {
  const entries = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
  return entries.map(e => ({url: e.name, transferred: e.transferSize, decoded: e.decodedBodySize}));
}"""
_IMAGES_JS = """() => Array.from(document.images).map(i => ({
  src: i.currentSrc || i.src, alt: i.getAttribute('alt'), loaded: i.complete && i.naturalWidth > 0,
  figure: i.classList.contains('dl-figure'), natural: i.naturalWidth,
  shown: i.getBoundingClientRect().width,
}))"""
# preload: false, or axe fetches the stylesheets itself, resolves their @import against the
# page instead of the sheet, and logs a 404 the page never caused.
_AXE_JS = """async ([context, options]) => (await axe.run(context, {...options, resultTypes: ['violations'],
                                                                 preload: false})).violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
  targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
}))"""
#: The axe rules whose answer depends on the window's size. The others read the DOM, the
#: same on a phone as on a desktop, and run once per page, at desktop size.
AXE_PHONE_RULES = ["target-size", "scrollable-region-focusable", "meta-viewport"]


def axe_runs(page_path: str, device: str) -> list[tuple[dict, dict]]:
    """(context, options) of each axe run for one page on one device.

    At desktop size every rule runs. On a chapter it skips the code cells' input: their
    thousands of highlighted tokens would triple the time of the colour rules, and they
    are all coloured by one Pygments style, which the exercise pages check in full (their
    code cells use it too); the phone run checks, on the whole page, that code boxes that
    scroll can be reached with the keyboard.
    """
    document = {"exclude": []}
    if device == "phone":
        return [(document, {"runOnly": {"type": "rule", "values": AXE_PHONE_RULES}})]
    return [({"exclude": [[".cell_input .highlight"]]} if page_path.startswith("chapters/") else document, {})]


def _shown(page, selector: str) -> bool:
    """Whether the element is on screen: displayed, visible, opaque, inside the viewport."""
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); if (!el) return false;
           const r = el.getBoundingClientRect();
           let opacity = 1;
           for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
           return r.width > 0 && r.height > 0 && r.right > 0 && r.left < innerWidth
                  && getComputedStyle(el).visibility !== 'hidden' && opacity > 0.99; }""",
        selector,
    )


def _hidden(page, selector: str) -> bool:
    """Whether the element is off screen or invisible."""
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); if (!el) return true;
           const r = el.getBoundingClientRect();
           return r.width === 0 || r.right <= 0 || r.left >= innerWidth
                  || getComputedStyle(el).visibility === 'hidden'; }""",
        selector,
    )


def _wait(page, check, timeout_ms: int = 3000) -> bool:
    for _ in range(timeout_ms // 100):
        if check():
            return True
        page.wait_for_timeout(100)
    return check()


def check_drawers(page, device: str) -> list[str]:
    """Open and close both sidebars with the article header's buttons; return what failed."""
    problems = []
    primary = page.locator(".bd-header-article .primary-toggle")
    secondary = page.locator(".bd-header-article .secondary-toggle")
    if device == "phone":
        for name, toggle, dialog in (("navigation", primary, "#pst-primary-sidebar-modal"),
                                     ("contents", secondary, "#pst-secondary-sidebar-modal")):
            if name == "contents" and secondary.count() == 0:
                continue  # a page without sections has no contents drawer
            if toggle.count() == 0 or not toggle.first.is_visible():
                problems.append(f"no visible {name} button")
                continue
            toggle.first.tap()
            if not _wait(page, lambda: page.evaluate(f"document.querySelector('{dialog}').open")
                         and _shown(page, f"{dialog} a")):
                problems.append(f"the {name} drawer does not open")
                continue
            if name == "navigation":  # a tap beside the drawer closes it, as on any phone
                page.touchscreen.tap(PHONE["viewport"]["width"] - 10, PHONE["viewport"]["height"] // 2)
            else:
                page.keyboard.press("Escape")
            if not _wait(page, lambda: not page.evaluate(f"document.querySelector('{dialog}').open")):
                problems.append(f"the {name} drawer does not close")
    else:
        sidebar = "#pst-primary-sidebar"
        if primary.count() == 0 or not primary.first.is_visible():
            problems.append("no visible navigation button")
        elif not _shown(page, f"{sidebar} nav a"):
            problems.append("the navigation sidebar is not shown")
        else:
            primary.first.click()
            if not _wait(page, lambda: _hidden(page, f"{sidebar} nav a")):
                problems.append("the navigation sidebar does not collapse")
            primary.first.click()
            if not _wait(page, lambda: _shown(page, f"{sidebar} nav a")):
                problems.append("the navigation sidebar does not come back")
        if secondary.count() and not _shown(page, "#pst-secondary-sidebar nav a"):
            problems.append("the contents sidebar is not shown")
    return problems


def audit_page(browser, url: str, device: str, axe: str | None = None) -> dict:
    """Open one page in a fresh context and measure everything the tests check."""
    context = browser.new_context(**DEVICES[device])
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    external: list[str] = []
    context.route(lambda u: not u.startswith(origin), lambda route: (external.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})") if r.url.startswith(origin) else None)
    page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    page.add_init_script("performance.setResourceTimingBufferSize(2000)")
    started = time.monotonic()
    page.goto(url, wait_until="load")

    result: dict = {"url": url, "device": device}
    math = page.locator(".math").count()
    if math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    page.wait_for_load_state("networkidle")  # late scripts, and the fonts MathJax asked for
    result["math"] = {"formulas": math, "typeset": page.locator("mjx-container").count(),
                      "errors": page.locator("mjx-merror").count()}
    result["scroll_width"] = page.evaluate("document.documentElement.scrollWidth")
    # The window's own width: a phone browser widens innerWidth to fit a page that overflows.
    result["viewport_width"] = DEVICES[device]["viewport"]["width"]
    result["images"] = page.evaluate(_IMAGES_JS)
    result["launch"] = page.evaluate(
        """() => Array.from(document.querySelectorAll('a[href^="https://colab.research.google.com/"], '
                                                     + 'a[href^="https://mybinder.org/"]'), a => a.href)""")
    resources = page.evaluate(_MEASURE_JS)
    own_figures = [r for r in resources if "/_images/" in r["url"]]
    result["weight"] = {
        "transferred": sum(r["transferred"] for r in resources if r not in own_figures),
        "decoded": sum(r["decoded"] for r in resources if r not in own_figures),
        "figures": sum(r["transferred"] for r in own_figures),
        "requests": len(resources),
        "by_file": sorted(((r["url"].removeprefix(origin), r["transferred"]) for r in resources), key=lambda x: -x[1])[:8],
    }
    if axe:  # on the page as it opens, before the drawers move
        page.evaluate(axe)
        path = urlsplit(url).path.lstrip("/")
        result["axe"] = [v for run in axe_runs(path, device) for v in page.evaluate(_AXE_JS, list(run))]
    result["drawers"] = check_drawers(page, device)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["console_errors"] = errors
    result["failed_requests"] = failed
    result["external_requests"] = external
    context.close()
    return result


@pytest.fixture(scope="module")
def audits(html, server, browser) -> dict[tuple[str, str], dict]:
    """Every page on a phone and on a desktop: {(page, device): audit}."""
    axe = axe_script()
    found = {
        (page_path, device): audit_page(browser, f"{server}/{page_path}", device, axe)
        for page_path in built_pages(html)
        for device in DEVICES
    }
    if os.environ.get("DLCOURSE_BOOK_REPORT"):
        Path(os.environ["DLCOURSE_BOOK_REPORT"]).write_text(
            json.dumps({f"{p} ({d})": a for (p, d), a in found.items()}, indent=1), encoding="utf-8")
    return found


def _report(problems: dict) -> str:
    return "\n".join(f"{key}: {value}" for key, value in problems.items())


def test_every_page_renders_whole_in_a_real_browser(html, audits):
    assert len({p for p, _ in audits}) >= len(toc_files())
    problems = {}
    for key, audit in audits.items():
        math = audit["math"]
        if math["typeset"] < math["formulas"] or math["errors"]:
            problems[key] = f"{math['typeset']} of {math['formulas']} formulas typeset, {math['errors']} errors"
        broken = [i["src"] for i in audit["images"] if not i["loaded"]]
        if broken:
            problems[key] = f"images that did not load: {broken}"
    assert not problems, _report(problems)


def test_no_request_fails_or_leaves_the_machine(audits):
    problems = {k: a["failed_requests"] + a["external_requests"] for k, a in audits.items()
                if a["failed_requests"] or a["external_requests"]}
    assert not problems, _report(problems)


def test_no_page_logs_a_console_error(audits):
    problems = {k: a["console_errors"] for k, a in audits.items() if a["console_errors"]}
    assert not problems, _report(problems)


def test_both_drawers_open_and_close_on_phone_and_desktop(audits):
    problems = {k: a["drawers"] for k, a in audits.items() if a["drawers"]}
    assert not problems, _report(problems)


def test_no_page_scrolls_sideways(audits):
    problems = {k: f"{a['scroll_width']} px wide in a {a['viewport_width']} px window"
                for k, a in audits.items() if a["scroll_width"] > a["viewport_width"]}
    assert not problems, _report(problems)


def test_every_page_transfers_at_most_1_5_mb_besides_its_figures(audits):
    problems = {k: f"{a['weight']['transferred']:,} bytes; largest: {a['weight']['by_file'][:4]}"
                for k, a in audits.items() if a["weight"]["transferred"] > WEIGHT_LIMIT}
    assert not problems, _report(problems)


def test_axe_finds_no_serious_or_critical_accessibility_violation(audits):
    problems = {k: [v for v in a["axe"] if v["impact"] in ("serious", "critical")] for k, a in audits.items()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, _report(problems)


def meaningful_alt(alt: str | None) -> bool:
    """Words that say something: not missing, not a file name or path, not a bare 'image'."""
    if not alt or len(alt.split()) < 2:
        return False
    return not re.search(r"(^|/)_images/|\.(png|jpe?g|gif|svg|webp)\b|^[0-9a-f]{16,}", alt, re.I)


def test_every_image_has_meaningful_alt_text(audits):
    problems = {k: [(i["src"].rsplit("/", 1)[-1], i["alt"]) for i in a["images"] if not meaningful_alt(i["alt"])]
                for k, a in audits.items()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, _report(problems)


def test_figures_keep_a_legible_size_on_a_phone(audits):
    problems = {}
    for (page, device), audit in audits.items():
        small = [f"{i['src'].rsplit('/', 1)[-1][:12]}: {i['shown']:.0f} of {i['natural']} px"
                 for i in audit["images"] if device == "phone" and i["figure"] and i["shown"] < MIN_FIGURE_SCALE * i["natural"]]
        if small:
            problems[(page, device)] = small
    assert not problems, _report(problems)


def test_search_finds_pages_on_the_search_page(server, browser):
    page = browser.new_page()
    page.goto(f"{server}/search.html?q=backpropagation", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=20_000)
    assert page.locator("#search-results li").count() >= 1
    page.close()


def test_launch_buttons_point_at_each_notebook(audits):
    notebook_pages = [p for p in toc_files() if source_of(p).suffix == ".ipynb"]
    assert notebook_pages
    for stem in notebook_pages:
        hrefs = audits[(f"{stem}.html", "desktop")]["launch"]
        colab = {h for h in hrefs if h.startswith("https://colab.research.google.com/")}
        binder = [h for h in hrefs if h.startswith("https://mybinder.org/")]
        assert colab == {notebooks.colab_url(f"{stem}.ipynb")}, f"{stem}: Colab buttons {colab}"
        assert binder and all(f"{stem}.ipynb" in h for h in binder), f"{stem}: Binder buttons {binder}"
