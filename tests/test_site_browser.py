"""The website in a real browser: the explorer filters to exactly the database's numbers.

The site is built once per session from the real database (``repro site``'s own code path) and
served from 127.0.0.1; headless Chromium (Debian's package, see tests/browser_support.py) loads
it through Playwright. Expected numbers are computed here from the validated collections and the
explorer's facet list (``website.FACETS``), never read from the page, so a filter that counts
wrongly fails. Screenshots of the home page and the explorer are saved under test-artifacts/.

When no browser is installed these tests skip, unless REPRO_REQUIRE_BROWSER=1 (which
scripts/test.sh sets once it has the browser, and CI sets): then a missing browser fails.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from browser_support import CHROMIUM_ARGS, chromium_path, keep_local, serve
from reprogrammability.build import derived_outputs
from reprogrammability.sitegen import build_site
from reprogrammability.validate import load_collections
from reprogrammability.website import FACETS

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
BROWSER = chromium_path()

if os.environ.get("REPRO_REQUIRE_BROWSER") != "1":
    if BROWSER is None:
        pytest.skip("no chromium (apt-get install chromium; scripts/test.sh does it)",
                    allow_module_level=True)
    pytest.importorskip("playwright.sync_api")
from playwright.sync_api import sync_playwright

STATUS = re.compile(r"^(\d+) of (\d+) papers(, the first \d+ shown)?$")


# --------------------------------------------------------------------------------------------
# Fixtures: the catalog, the built site, a server, a browser.


@pytest.fixture(scope="module")
def catalog():
    loaded = load_collections(ROOT / "data" / "papers.yaml")
    assert not loaded.problems, [p.format() for p in loaded.problems]
    return loaded.catalog


@pytest.fixture(scope="module")
def site(catalog, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("site")
    return build_site(ROOT, derived_outputs(catalog, ROOT), tmp / "html",
                      staging=tmp / "staging", quiet=True)


@pytest.fixture(scope="module")
def base(site) -> str:
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=BROWSER, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, base: str, *, javascript: bool = True) -> None:
        self.context = browser.new_context(java_script_enabled=javascript,
                                           viewport={"width": 1280, "height": 900})
        keep_local(self.context, base)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def status(self) -> tuple[int, int]:
        text = self.page.locator("#explorer-status").text_content().strip()
        m = STATUS.match(text)
        assert m, text
        return int(m.group(1)), int(m.group(2))

    def visible_titles(self) -> list[str]:
        """The titles shown, in order (the script shows a window of the matches)."""
        return self.page.eval_on_selector_all(
            "#explorer-list > li:not([hidden]) .t", "els => els.map(e => e.textContent)")

    def all_titles(self) -> list[str]:
        """The titles of every match: "Show more" pressed until it is gone."""
        more = self.page.locator("#explorer-more")
        while more.is_visible():
            more.click()
        titles = self.visible_titles()
        assert len(titles) == self.status()[0]
        return titles

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def page(browser, base):
    p = Page(browser, base)
    yield p
    assert not p.errors, p.errors
    p.close()


EXPLORER = "/docs/explorer/"


def _matching(catalog, filters: dict[str, set[str]], query: str = "") -> list:
    """The papers the explorer should show: any ticked value per facet, all facets, the text."""
    by_key = {f.key: f for f in FACETS}
    out = []
    for p in catalog.papers:
        if query and query.lower() not in "\n".join(
                [p.title, ", ".join(p.authors), p.note or ""]).lower():
            continue
        if all(set(by_key[k].values(p)) & wanted for k, wanted in filters.items() if wanted):
            out.append(p)
    return out


def _tick(page: Page, facet: str, value: str) -> None:
    page.page.locator(f'input[name="{facet}"][value="{value}"]').click()


# --------------------------------------------------------------------------------------------
# The explorer.


#: In the page: tick each checkbox alone (a real click event through the form's listener), read
#: the status line, untick it. One round trip for every value of every facet.
_EACH_VALUE_ALONE = """() => {
  const out = [];
  for (const box of document.querySelectorAll('#explorer-filters input[type=checkbox]')) {
    box.click();
    out.push([box.name, box.value, document.getElementById('explorer-status').textContent]);
    box.click();
  }
  return out;
}"""


def test_every_facet_value_shows_the_databases_count(page, catalog) -> None:
    """Ticking each value of each facet alone shows exactly the papers that have it."""
    page.open(EXPLORER)
    assert page.status() == (len(catalog.papers), len(catalog.papers))
    seen = [(name, value, tuple(map(int, STATUS.match(text).group(1, 2))))
            for name, value, text in page.page.evaluate(_EACH_VALUE_ALONE)]
    expected = [(f.key, key, (len(_matching(catalog, {f.key: {key}})), len(catalog.papers)))
                for f in FACETS for key, _label in f.options(catalog.papers)]
    assert seen == expected
    assert len(expected) > 40 and page.status()[0] == len(catalog.papers)


@pytest.mark.parametrize("axis", ["configuration", "location", "operator", "alignment"])
def test_axis_values_from_the_url(page, catalog, axis) -> None:
    """Opening ?axis=value shows exactly the database's count for that value."""
    facet = next(f for f in FACETS if f.key == axis)
    for key, _label in facet.options(catalog.papers):
        page.open(f"{EXPLORER}?{axis}={key}")
        assert page.status()[0] == len(_matching(catalog, {axis: {key}})), key
        assert page.page.locator(f'input[name="{axis}"][value="{key}"]').is_checked()


def test_combined_filters_and_their_value_counts(page, catalog) -> None:
    """Values of one facet add up (OR), facets narrow (AND), and every value's count is the
    number of papers with it among those the other facets let through."""
    filters = {"configuration": {"learnable"}, "location": {"input", "embedding"}}
    page.open(EXPLORER)
    for facet, values in filters.items():
        for v in sorted(values):
            _tick(page, facet, v)
    expected = _matching(catalog, filters)
    assert 0 < len(expected) < len(catalog.papers)
    assert page.status()[0] == len(expected)
    assert sorted(page.all_titles()) == sorted(p.title for p in expected)
    for facet in FACETS:
        others = {k: v for k, v in filters.items() if k != facet.key}
        pool = _matching(catalog, others)
        counts = page.page.eval_on_selector_all(
            f'fieldset[data-facet="{facet.key}"] .explorer-count',
            "els => els.map(e => Number(e.textContent))")
        wanted = [sum(1 for p in pool if key in facet.values(p))
                  for key, _ in facet.options(catalog.papers)]
        assert counts == wanted, facet.key


def test_url_round_trip(page, browser, base, catalog) -> None:
    """Filters, search and order written to the address bar restore the same view."""
    page.open(EXPLORER)
    _tick(page, "configuration", "learnable")
    _tick(page, "operator", "additive")
    _tick(page, "operator", "parametric")
    page.page.select_option("#explorer-sort", "oldest")
    page.page.fill("#explorer-q", "a")
    url = page.page.evaluate("location.href")  # page.url follows replaceState only lazily
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))
    assert query["sort"] == "oldest" and query["q"] == "a"
    assert "operator=additive&operator=parametric" in url
    titles = page.visible_titles()
    assert titles
    other = Page(browser, base)
    try:
        other.page.goto(url)
        assert other.visible_titles() == titles  # same papers, same order
        assert other.page.locator('input[name="operator"][value="parametric"]').is_checked()
        assert other.page.input_value("#explorer-q") == "a"
        assert other.page.input_value("#explorer-sort") == "oldest"
        assert not other.errors, other.errors
    finally:
        other.close()
    page.page.locator("#explorer-reset").click()
    assert page.status()[0] == len(catalog.papers)
    assert urlsplit(page.page.evaluate("location.href")).query == ""


def test_search_matches_title_authors_and_notes(page, catalog) -> None:
    paper = next(p for p in catalog.papers if p.note and len(p.authors) > 1)
    page.open(EXPLORER)
    for query in (paper.title[3:20].upper(), paper.authors[1], paper.note[:25]):
        page.page.fill("#explorer-q", query)
        expected = _matching(catalog, {}, query)
        assert paper in expected
        assert sorted(page.all_titles()) == sorted(p.title for p in expected), query
    page.page.fill("#explorer-q", "no paper has this zqxj text")
    assert page.status()[0] == 0


def test_long_lists_show_a_window_and_more_on_request(page, catalog) -> None:
    """The script shows the first PAGE_SIZE matches (so a change touches few items, however
    long the list) and a button adds more; the status always counts every match."""
    from reprogrammability.website import PAGE_SIZE

    page.open(EXPLORER)
    shown = lambda: page.page.locator("#explorer-list > li:not([hidden])").count()
    total = len(catalog.papers)
    more = page.page.locator("#explorer-more")
    assert page.status() == (total, total)
    if total <= PAGE_SIZE:
        assert shown() == total and not more.is_visible()
        return
    assert shown() == PAGE_SIZE and more.is_visible()
    assert page.page.locator("#explorer-status").text_content().endswith(
        f", the first {PAGE_SIZE} shown")
    clicks = 0
    while more.is_visible():
        more.click()
        clicks += 1
    assert shown() == total and clicks == -(-total // PAGE_SIZE) - 1
    _tick(page, "configuration", "fixed")  # a new filter starts from the first window again
    assert shown() == min(page.status()[0], PAGE_SIZE)


def test_orders(page, catalog) -> None:
    page.open(EXPLORER + "?sort=oldest")
    years = page.page.eval_on_selector_all("#explorer-list > li",
                                           "els => els.map(e => Number(e.dataset.y))")
    assert years == sorted(years) and years[0] == min(p.year for p in catalog.papers)
    page.page.select_option("#explorer-sort", "newest")
    years = page.page.eval_on_selector_all("#explorer-list > li",
                                           "els => els.map(e => Number(e.dataset.y))")
    assert years == sorted(years, reverse=True)


def test_matrix_links_open_the_explorer_filtered_to_their_cell(page, site) -> None:
    """Every count of the taxonomy's cell matrix shows that many papers in the explorer."""
    html = (site / "docs" / "taxonomy" / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="(\.\./explorer/\?[^"]+)">(\d+)</a>', html)
    assert len(links) >= 18 * 5
    page.open(EXPLORER)
    targets = [urljoin(page.base + "/docs/taxonomy/", href.replace("&amp;", "&"))
               for href, _count in links]
    shown = page.page.evaluate("""urls => urls.map(url => {
        history.pushState(null, '', url);
        dispatchEvent(new PopStateEvent('popstate'));
        return Number(document.getElementById('explorer-status').textContent.split(' ')[0]);
    })""", targets)
    assert shown == [int(count) for _href, count in links]


def test_controls_are_labelled_and_work_from_the_keyboard(page) -> None:
    page.open(EXPLORER)
    unlabelled = page.page.eval_on_selector_all(
        "#explorer-filters input, #explorer-filters select",
        "els => els.filter(e => !e.labels || e.labels.length === 0).map(e => e.outerHTML)")
    assert unlabelled == []
    total = page.status()[1]
    page.page.focus("#explorer-q")
    page.page.keyboard.press("Tab")  # to the order select
    page.page.keyboard.press("Tab")  # to the reset button
    page.page.keyboard.press("Tab")  # to the first checkbox: λ learnable
    assert page.page.evaluate("document.activeElement.name") == "configuration"
    page.page.keyboard.press("Space")
    assert page.status()[0] < total
    page.page.keyboard.press("Space")
    assert page.status()[0] == total


def test_site_search_finds_pages(page, catalog) -> None:
    """The generator's own search (in the browser, from its prebuilt index) finds a paper."""
    title = catalog.papers[0].title
    page.open("/")
    page.page.locator("label.md-search__icon, .md-search__input").first.click()
    page.page.locator("input.md-search__input").press_sequentially(title.split(":")[0][:40])
    results = page.page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15_000)
    assert results.count() > 0
    assert title.split(":")[0][:20].casefold() in page.page.locator(
        ".md-search-result").text_content().casefold()


def test_screenshots(page) -> None:
    """Home page and explorer, saved for people to look at (test-artifacts/, git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.open("/")
    page.page.screenshot(path=str(ARTIFACTS / "site-home.png"))
    page.open(EXPLORER + "?configuration=learnable&location=input")
    page.page.screenshot(path=str(ARTIFACTS / "site-explorer.png"))
    # The list itself: items off screen are rendered only when scrolled to (content-visibility).
    page.page.locator("fieldset[data-facet=code]").scroll_into_view_if_needed()
    page.page.screenshot(path=str(ARTIFACTS / "site-explorer-list.png"))
    assert (ARTIFACTS / "site-explorer.png").stat().st_size > 10_000


# --------------------------------------------------------------------------------------------
# The whole site.


def test_works_without_javascript(browser, base, catalog) -> None:
    p = Page(browser, base, javascript=False)
    try:
        p.open(EXPLORER + "?configuration=fixed")  # the query does nothing without the script
        items = p.page.locator("#explorer-list > li")
        assert items.count() == len(catalog.papers)
        assert p.page.locator("#explorer-list > li:visible").count() == len(catalog.papers)
        assert not p.page.locator("#explorer-filters").is_visible()  # no dead controls
        assert "Filtering needs JavaScript" in p.page.content()
        p.open("/docs/taxonomy/")
        assert p.page.locator("h1").first.text_content().startswith("Taxonomy")
    finally:
        p.close()


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_no_console_errors_on_any_page(browser, base, site) -> None:
    """Every page loads without a console error; of the cell pages, which share one template
    and differ only in text, the first stands for all (each browser page load costs ~0.5 s)."""
    cells = sorted(site.glob("docs/cells/*/index.html"))
    p = Page(browser, base)
    try:
        for html in [h for h in _pages(site) if h not in cells[1:]]:
            rel = html.relative_to(site).as_posix()
            p.open("/" + (rel.removesuffix("index.html")))
            assert not p.errors, (rel, p.errors)
    finally:
        p.close()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name") if tag != "meta" else ():
            if values.get(name):
                self.ids.add(values[name])
        for name in ("href", "src"):
            if values.get(name) and tag in ("a", "link", "script", "img", "source"):
                self.links.append(values[name])


def test_every_internal_link_and_anchor_resolves(site) -> None:
    """Each relative or same-site link of every page names a file of the built site, and each
    #fragment an id on the page it points to."""
    parsed: dict[Path, _Links] = {}

    def parse(path: Path) -> _Links:
        if path not in parsed:
            parser = _Links()
            parser.feed(path.read_text(encoding="utf-8"))
            parsed[path] = parser
        return parsed[path]

    broken = []
    checked = 0
    for html in _pages(site):
        for link in parse(html).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:")):
                continue
            path = unquote(parts.path)
            target = html if not path else (
                (site / path.lstrip("/")) if path.startswith("/") else html.parent / path)
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if site.resolve() not in target.parents or not target.is_file():
                broken.append(f"{html.relative_to(site)}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html" and \
                    unquote(parts.fragment) not in parse(target).ids:
                broken.append(f"{html.relative_to(site)}: {link} (no such anchor)")
    assert checked > 1000
    assert broken == []
