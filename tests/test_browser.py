"""The built web book as a reader sees it: every page in headless Chromium, on desktop and phone.

Why: a page can be valid HTML and still be broken for its reader (a button bound to the wrong
element, an equation cut at the column's edge, a script loaded twice). Only a real browser shows
that. The browser is Debian's ``chromium`` (``.ci/run`` installs it through ``make``), driven by
Playwright; Playwright never downloads a browser of its own here. The book is served from
``127.0.0.1`` by a server this module starts, and nothing is blocked: any request that leaves the
server, fails, or answers an error fails the test.

Screenshots of every page at both sizes (JPEG, whole page; PNG of each opened menu and outline)
are written to ``_build/screenshots`` (ignored by git).
"""

from __future__ import annotations

import functools
import gzip
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
import yaml

pytestmark = pytest.mark.built_book

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]
# Bytes a page may weigh, gzip-compressed as a web server sends them: text, scripts, fonts, plots.
PAGE_WEIGHT_LIMIT = 1_200_000
# A plot drawn in the book's style (onebyone.plotting: at most 6.4 inches at 100 dots per inch)
# is about 650 pixels wide; one much wider was drawn without it and its text is tiny on a phone.
PLOT_PIXELS = 760
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
# Code blocks and outputs a page may have that scroll sideways at desktop width (README: "Fits
# the column"); a display equation may not at all.
SIDEWAYS_LIMIT = 2
# Pages over those limits today, with their number at 1280 px (measured on main's built book when
# this list was made) as a ceiling: a page may not get worse, and leaves the list when it fits.
SIDEWAYS_ALLOWED: dict[str, int] = {}
WIDE_EQUATIONS_ALLOWED: dict[str, int] = {}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "_build" / "screenshots"

# Raw TeX that MathJax leaves behind when it did not typeset something.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:frac|times|cdot|mathrm|text|left|right)\b")

# Runs in the page once it has settled: everything the checks need, measured by the browser.
MEASURE = """
async () => {
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    await window.MathJax.startup.promise;
  }
  const article = document.querySelector("article.bd-article") || document.body;
  const math = [...document.querySelectorAll("span.math, div.math")];
  const untypeset = math.filter((m) => !m.querySelector("mjx-container"))
                        .map((m) => m.textContent.slice(0, 80));
  // Text the reader sees that still looks like TeX (outside code, which may show TeX on purpose).
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const skipped = "pre, code, script, style, mjx-container, .cell_input";
    if (node.parentElement.closest(skipped)) continue;
    texts.push(node.textContent);
  }
  const images = [...document.images].map((img) => ({
    src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth,
    plot: !!img.closest("div.cell_output"),
  }));
  // Content wider than its box must sit in a box the reader can scroll; clipped content fails.
  const clipped = [];
  const selector =
    "div.math, mjx-container[display='true'], table, pre, div.output, div.cell_output";
  for (const element of article.querySelectorAll(selector)) {
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) continue;  // hidden (e.g. a closed solution)
    const contentRight = rect.left + element.scrollWidth;
    let box = element;
    let verdict = null;
    while (box && box !== document.documentElement) {
      const style = getComputedStyle(box);
      const overflow = style.overflowX;
      const boxRect = box.getBoundingClientRect();
      const right = box === element ? rect.left + box.clientWidth : boxRect.right;
      if (overflow === "auto" || overflow === "scroll") {
        verdict = "scrolls";
        break;
      }
      if ((overflow === "hidden" || overflow === "clip") && contentRight > right + 1) {
        verdict = "clipped";
        break;
      }
      box = box.parentElement;
    }
    if (verdict === null && contentRight > window.innerWidth + 1) verdict = "past the page";
    if (verdict === "clipped" || verdict === "past the page") {
      clipped.push(`${verdict}: <${element.tagName.toLowerCase()} class="${element.className}"> `
                   + element.textContent.trim().slice(0, 60));
    }
  }
  // Code and outputs that the reader scrolls sideways, one entry per block (a code cell's input,
  // an output, a code block in the text); and display equations wider than their box.
  const seen = new Set();
  const sideways = [];
  const wideMath = [];
  for (const element of article.querySelectorAll(
      "pre, div.cell_output, div.math, mjx-container[display='true']")) {
    const rect = element.getBoundingClientRect();
    // Not displayed at all; the content of a closed dropdown (a solution) is laid out, and counts.
    if (rect.width === 0 && rect.height === 0) continue;
    if (element.scrollWidth <= element.clientWidth + 1) continue;
    const math = element.matches("div.math, mjx-container");
    const block = math ? (element.closest("div.math") || element)
      : (element.closest("div.cell_input, div.cell_output, div.highlight") || element);
    if (seen.has(block)) continue;
    seen.add(block);
    if (math) {
      const text = block.querySelector("mjx-assistive-mml") || block;
      wideMath.push(`${block.id || "equation"}: ${text.textContent.trim().slice(0, 60)}`);
    } else {
      sideways.push(block.textContent.trim().split("\\n")[0].slice(0, 60));
    }
  }
  const outputs = [...document.querySelectorAll("div.cell_output")].map((o) => o.innerText.trim());
  const shown = (element) => {
    const rect = element.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0 && getComputedStyle(element).visibility !== "hidden";
  };
  // The page furniture's search boxes (the search page's own form, in its article, is content).
  const searchBoxes = [...document.querySelectorAll(
    "form.bd-search, .search-button-field, button.search-button")]
    .filter((box) => shown(box) && !box.closest("article, .bd-search-container")).length;
  const topBars = [...document.querySelectorAll("header.bd-header, nav.bd-header")].filter(shown)
    .length;
  return {
    math: math.length, untypeset, texts, images, clipped, outputs, searchBoxes, topBars,
    sideways, wideMath,
    pageWidth: document.documentElement.scrollWidth, viewportWidth: window.innerWidth,
    mathjax: !!document.querySelector("script[src*='mathjax']"),
  };
}
"""


def _served(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server(built_html):
    server = _served(built_html)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install the Debian package `chromium` "
            "(apt-get install -y chromium; `make test` does this when it runs as root)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def contexts(browser):
    made = {}
    for name, (width, height) in VIEWPORTS.items():
        made[name] = browser.new_context(
            viewport={"width": width, "height": height},
            is_mobile=name == "phone",
            has_touch=name == "phone",
            device_scale_factor=1,
        )
    yield made
    for context in made.values():
        context.close()


def _pages(built_html: Path) -> list[str]:
    pages = []
    for path in sorted(built_html.rglob("*.html")):
        relative = path.relative_to(built_html)
        if relative.parts[0].startswith("_"):
            continue
        if "http-equiv=\"Refresh\"" in path.read_text()[:300]:
            continue  # the root index.html only redirects to the landing page
        pages.append(relative.as_posix())
    return pages


class _Visit:
    """One page opened in one context, with everything the browser reported while loading it."""

    def __init__(self, context, url: str, origin: str):
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.external: list[str] = []
        self.transferred = 0
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("request", lambda r: self._request(r, origin))
        self.page.on("response", self._response)
        self.page.goto(url, wait_until="networkidle")

    def _console(self, message):
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request, origin):
        if not request.url.startswith((origin, "data:", "blob:")):
            self.external.append(request.url)

    def _response(self, response):
        if response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")
        try:
            body = response.body()
        except Exception:  # redirects and aborted loads have no body
            return
        # What a reader downloads from a server that compresses (GitHub Pages does).
        self.transferred += len(gzip.compress(body, compresslevel=6))


def _visible(page, selector: str) -> bool:
    return page.evaluate(
        """(selector) => {
          const element = document.querySelector(selector);
          if (!element) return false;
          const rect = element.getBoundingClientRect();
          const style = getComputedStyle(element);
          return rect.width > 50 && rect.right > 0 && rect.left < window.innerWidth
                 && style.visibility !== "hidden" && style.display !== "none";
        }""",
        selector,
    )


def _check_toggle(page, button: str, panel: str, label: str, screenshot: Path) -> list[str]:
    """Click the visible ``button``: ``panel`` must open (or, if open, close and reopen).

    Where the layout shows the panel for good and no button (the page outline on a wide screen),
    the panel must be visible. A screenshot shows the opened panel.
    """
    toggles = page.locator(f"{button}:visible")
    if toggles.count() == 0 and _visible(page, panel):
        return []
    if toggles.count() != 1:
        return [f"{label}: {toggles.count()} visible buttons"]
    before = _visible(page, panel)
    toggles.first.click()
    page.wait_for_timeout(400)  # the panels slide in
    after = _visible(page, panel)
    problems = []
    if after == before:
        problems.append(f"{label}: clicking it did not {'close' if before else 'open'} {panel}")
    elif not after:
        # It closed an open panel (the desktop layout); the same button must open it again.
        page.locator(f"{button}:visible").first.click()
        page.wait_for_timeout(400)
        if not _visible(page, panel):
            problems.append(f"{label}: a second click did not reopen {panel}")
    else:
        page.screenshot(path=str(screenshot))
        links = page.locator(f"{panel} a:visible").count()
        if links == 0:
            problems.append(f"{label}: {panel} opened without a visible link")
    page.keyboard.press("Escape")
    return problems


@pytest.fixture(scope="module")
def repository(root):
    config = yaml.safe_load((root / "_config.yml").read_text())
    return urlparse(config["repository"]["url"]).path.strip("/"), config["repository"]["branch"]


def test_every_page_works_on_desktop_and_phone(
    built_html, server, contexts, repository, notebooks_tool
):
    chapters = {chapter.stem for chapter in notebooks_tool.chapters()}
    problems: list[str] = []
    weights: dict[str, int] = {}
    pages = _pages(built_html)
    assert len(pages) >= 8, pages
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    for name, context in contexts.items():
        (SCREENSHOTS / name).mkdir(parents=True)
        for relative in pages:
            where = f"{relative} at {name} width"
            visit = _Visit(context, f"{server}/{relative}", server)
            page = visit.page
            measured = page.evaluate(MEASURE)
            problems += [f"{where}: console error: {e}" for e in visit.errors]
            problems += [f"{where}: failed request: {f}" for f in visit.failed]
            problems += [f"{where}: external request: {e}" for e in visit.external]
            problems += [f"{where}: math not typeset: {m}" for m in measured["untypeset"]]
            problems += [
                f"{where}: raw TeX on the page: {t.strip()[:80]}"
                for t in measured["texts"]
                if RAW_TEX.search(t)
            ]
            problems += [
                f"{where}: image not loaded: {i['src']}"
                for i in measured["images"]
                if not (i["complete"] and i["width"] > 0)
            ]
            problems += [
                f"{where}: a plot {i['width']} px wide, too wide to read on a phone: {i['src']}"
                for i in measured["images"]
                if i["plot"] and i["width"] > PLOT_PIXELS
            ]
            problems += [f"{where}: {c}" for c in measured["clipped"]]
            if name == "desktop":
                problems += [f"{where}: {p}" for p in column_problems(relative, measured)]
            if measured["pageWidth"] > measured["viewportWidth"] + 1:
                problems.append(
                    f"{where}: the page scrolls sideways ({measured['pageWidth']} px wide)"
                )
            if measured["searchBoxes"] > 1:
                problems.append(f"{where}: {measured['searchBoxes']} search boxes")
            if measured["topBars"]:
                problems.append(f"{where}: a top bar above the book's own header")
            if measured["mathjax"] and not measured["math"]:
                problems.append(f"{where}: loads MathJax without any math on the page")
            problems += [
                f"{where}: a cell output is a lone 'True'"
                for output in measured["outputs"]
                if output == "True"
            ]
            weights[where] = visit.transferred
            if visit.transferred > PAGE_WEIGHT_LIMIT:
                problems.append(f"{where}: weighs {visit.transferred / 1e6:.2f} MB compressed")
            stem = Path(relative).stem
            if stem in chapters:
                problems += _check_colab(page, stem, repository, where)
            page.screenshot(
                path=str(SCREENSHOTS / name / f"{stem}.jpg"), full_page=True, quality=80
            )
            page.evaluate("window.scrollTo(0, 0)")
            problems += [
                f"{where}: {p}"
                for p in _check_toggle(
                    page, "button.primary-toggle", ".bd-sidebar-primary", "menu",
                    SCREENSHOTS / name / f"{stem}-menu.png",
                )
            ]
            if page.locator("#pst-page-toc-nav a, .bd-toc-nav a").count():
                problems += [
                    f"{where}: {p}"
                    for p in _check_toggle(
                        page, "button.secondary-toggle", ".bd-sidebar-secondary", "contents",
                        SCREENSHOTS / name / f"{stem}-contents.png",
                    )
                ]
            page.close()
    print("page weights, compressed (MB):", {k: round(v / 1e6, 2) for k, v in weights.items()})
    assert not problems, "\n".join(problems)


def column_problems(
    page: str,
    measured: dict,
    sideways_allowed: dict[str, int] = SIDEWAYS_ALLOWED,
    equations_allowed: dict[str, int] = WIDE_EQUATIONS_ALLOWED,
) -> list[str]:
    """What does not fit the column on ``page`` at desktop width, from what MEASURE found there:
    more than ``SIDEWAYS_LIMIT`` code blocks or outputs that scroll sideways, or any display
    equation wider than its box; each beyond the page's allowance today, if it has one (and a
    page that now fits must leave the allow-list)."""
    problems = []
    limits = (
        ("code blocks or outputs scroll sideways", measured["sideways"], SIDEWAYS_LIMIT,
         sideways_allowed),
        ("display equations are wider than the column", measured["wideMath"], 0,
         equations_allowed),
    )
    for what, found, limit, allowed in limits:
        fits = len(found) <= limit
        if page in allowed and fits:
            problems.append(f"{len(found)} {what} (at most {limit}): the page fits now, remove "
                            "it from the allow-list")
        elif not fits and len(found) > allowed.get(page, limit):
            ceiling = f", allowed {allowed[page]} until rewritten" if page in allowed else ""
            problems.append(f"{len(found)} {what} (at most {limit}{ceiling}); first: {found[0]}")
    return problems


COLUMN_FIXTURE = """
<style>
  article {{ width: 400px; }}
  pre, div.math {{ overflow-x: auto; white-space: pre; margin: 0; }}
  .wide {{ display: inline-block; width: 900px; }}
</style>
<article class="bd-article">
  {blocks}
  <div class="cell_output"><pre>short output</pre></div>
  <div class="math" id="equation-wide"><span class="wide">y = W x</span></div>
  <div class="math" id="equation-narrow"><span>z = 1</span></div>
  <details><div class="cell_input"><pre>{wide}</pre></div></details>
  <div style="display: none"><pre>{wide}</pre></div>
</article>
"""


@pytest.mark.parametrize("count", [2, 3])
def test_column_problems_count_what_scrolls_sideways(browser, count):
    """MEASURE and column_problems on a small page: ``count`` wide code blocks (a cell input,
    outputs, and code in a closed dropdown, which the reader scrolls once it is open), one wide
    display equation; a short output, a narrow equation and code not displayed do not count."""
    wide = "x" * 120
    blocks = [f'<div class="cell_input"><div class="highlight"><pre>{wide}</pre></div></div>']
    blocks += [f'<div class="cell_output"><pre>{wide}</pre></div>'] * (count - 2)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_content(COLUMN_FIXTURE.format(blocks="\n".join(blocks), wide=wide))
    measured = page.evaluate(MEASURE)
    page.close()
    assert measured["sideways"] == [wide[:60]] * count
    assert measured["wideMath"] == ["equation-wide: y = W x"]
    problems = column_problems("p.html", measured, {}, {})
    assert len(problems) == 1 + (count > SIDEWAYS_LIMIT)
    assert problems[-1].startswith("1 display equations are wider than the column (at most 0)")
    assert column_problems("p.html", measured, {"p.html": count}, {"p.html": 1}) == (
        [] if count > SIDEWAYS_LIMIT
        else ["2 code blocks or outputs scroll sideways (at most 2): the page fits now, remove "
              "it from the allow-list"]
    )
    if count > SIDEWAYS_LIMIT:  # worse than its allowance
        assert column_problems("p.html", measured, {"p.html": count - 1}, {"p.html": 1}) == [
            f"{count} code blocks or outputs scroll sideways (at most 2, allowed {count - 1} "
            f"until rewritten); first: {wide[:60]}"
        ]


def _check_colab(page, stem, repository, where) -> list[str]:
    name, branch = repository
    expected = f"https://colab.research.google.com/github/{name}/blob/{branch}/notebooks/{stem}.ipynb"
    links = page.eval_on_selector_all(
        "a[href*='colab.research.google.com']", "(links) => links.map((a) => a.href)"
    )
    if links != [expected]:
        return [f"{where}: Colab links {links}, expected [{expected}]"]
    return []


SEARCH_TERM = "bottleneck"


def _check_search(context, url: str) -> list[str]:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("#search-results ul.search li", timeout=15_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results ul.search li p.context').length > 0",
        timeout=15_000,
    )
    results = page.locator("#search-results ul.search li")
    snippets = page.eval_on_selector_all(
        "#search-results ul.search li p.context", "(ps) => ps.map((p) => p.innerText)"
    )
    problems = [f"console error: {e}" for e in errors]
    if results.count() < 3:
        problems.append(f"only {results.count()} results for {SEARCH_TERM!r}")
    if len(snippets) != results.count():
        problems.append(f"{results.count()} results but {len(snippets)} snippets")
    for snippet in snippets:
        if SEARCH_TERM not in snippet.lower():
            problems.append(f"snippet without the term: {snippet[:100]}")
        if RAW_TEX.search(snippet) or "\\" in snippet or "$" in snippet:
            problems.append(f"raw TeX in a snippet: {snippet[:100]}")
        for stray in ("Skip to main content", "Back to top", "Contents", "Open In Colab", "¶"):
            if stray in snippet:
                problems.append(f"page furniture {stray!r} in a snippet: {snippet[:100]}")
    page.close()
    return problems


def test_search_finds_a_term_and_shows_readable_snippets(server, contexts):
    problems = _check_search(contexts["desktop"], f"{server}/search.html?q={quote(SEARCH_TERM)}")
    assert not problems, "\n".join(problems)


def test_search_works_over_file_urls(built_html, contexts):
    url = (built_html / "search.html").as_uri() + f"?q={quote(SEARCH_TERM)}"
    problems = _check_search(contexts["desktop"], url)
    assert not problems, "\n".join(problems)
