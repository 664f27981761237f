"""The web book builds with warnings as errors, and a real browser finds every page whole.

The build goes to a temporary folder (never the reader's ``_build``). The browser
test drives Debian's Chromium through Playwright against a real HTTP server on
127.0.0.1: math is typeset by the locally served MathJax, every image loads, no
request fails, and the launch buttons point at the page's own notebook.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import notebooks

ROOT = notebooks.ROOT
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync", "--disable-quic",
]


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


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def server(html):
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


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


def built_pages(html: Path) -> list[str]:
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not p.relative_to(html).as_posix().startswith(("_static/", "_sources/"))
    )


def test_every_page_renders_whole_in_a_real_browser(html, server, browser, tmp_path):
    pages = built_pages(html)
    assert len(pages) >= len(toc_files())
    for page_path in pages:
        page = browser.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
        page.goto(f"{server}/{page_path}", wait_until="load")
        page.wait_for_load_state("networkidle")

        math = page.locator(".math").count()
        if math:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")
            typeset = page.locator("mjx-container").count()
            assert typeset >= math, f"{page_path}: {typeset} of {math} formulas typeset"
            assert page.locator("mjx-merror").count() == 0, f"{page_path}: MathJax error"

        broken = page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        assert broken == [], f"{page_path}: images that did not load: {broken}"
        assert failed == [], f"{page_path}: failed requests: {failed}"
        if page_path.startswith("chapters/"):
            page.screenshot(path=str(tmp_path / (Path(page_path).stem + ".png")), full_page=False)
        page.close()


def test_launch_buttons_point_at_each_notebook(html, server, browser):
    notebook_pages = [p for p in toc_files() if source_of(p).suffix == ".ipynb"]
    assert notebook_pages
    for stem in notebook_pages:
        page = browser.new_page()
        page.goto(f"{server}/{stem}.html", wait_until="load")
        colab = page.locator('a[href^="https://colab.research.google.com/"]')
        assert colab.count() >= 1, f"{stem}: no Colab launch button"
        hrefs = {colab.nth(i).get_attribute("href") for i in range(colab.count())}
        assert hrefs == {notebooks.colab_url(f"{stem}.ipynb")}, hrefs
        binder = page.locator('a[href^="https://mybinder.org/"]')
        assert binder.count() >= 1 and f"{stem}.ipynb" in binder.first.get_attribute("href")
        page.close()

