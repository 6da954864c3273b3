"""``repro discover`` against the local fake arXiv API: paging, dropping, scoring, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from reprogrammability import arxiv, discover
from reprogrammability.arxiv import ArxivError, RateLimiter
from reprogrammability.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
sys.path.insert(0, str(FIXTURES))
from fake_arxiv import FakeArxiv, make_entry

pytestmark = pytest.mark.network

DATABASE = """\
papers:
  - title: "WARP: Word-level Adversarial ReProgramming"
    authors: [Karen Hambardzumyan]
    year: 2021
    venue: ACL
    arxiv: "2101.00121"
    url: https://arxiv.org/abs/2101.00121
  - title: "The Power of Scale for Parameter-Efficient Prompt Tuning"
    authors: [Brian Lester]
    year: 2021
    venue: EMNLP
    arxiv: "2104.08691"
    url: https://arxiv.org/abs/2104.08691
"""

CONFIG = """\
since_days = 30
max_per_query = 50
page_size = 2

[[query]]
name = "model reprogramming"
terms = ["model reprogramming", "visual prompting"]
categories = ["cs.LG", "cs.CV"]
"""


def entries() -> list[str]:
    """Newest first, as arXiv sorts by submittedDate descending."""
    return [
        make_entry("2611.00005", "Model Reprogramming for Tabular Data",
                   "We extend model reprogramming beyond WARP to tables.",
                   "2026-11-20T10:00:00Z"),
        make_entry("2611.00004", "A Study of Something Else",
                   "Visual prompting is mentioned in passing.", "2026-11-18T10:00:00Z"),
        # already in the database under another version and with different capitalisation:
        make_entry("2104.08691", "The power of scale for parameter-efficient prompt tuning",
                   "Prompt tuning.", "2026-11-15T10:00:00Z"),
        make_entry("2611.00002", "THE POWER OF SCALE FOR PARAMETER-EFFICIENT PROMPT-TUNING",
                   "Same title as a listed paper, new id.", "2026-11-12T10:00:00Z"),
        make_entry("2611.00001", "Visual Prompting and Model Reprogramming, Unified",
                   "Builds on arXiv 2101.00121.", "2026-11-10T10:00:00Z"),
        make_entry("2609.00001", "Too Old: Model Reprogramming in 2026",
                   "Before the window.", "2026-09-01T10:00:00Z"),
    ]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "papers.yaml").write_text(DATABASE, encoding="utf-8")
    (tmp_path / "discover.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def run_cli(tmp_path, server, *extra):
    return main(["discover", "--config", str(tmp_path / "discover.toml"),
                 "--database", str(tmp_path / "papers.yaml"), "--api-url", server.url,
                 "--min-interval", "0", "--since", "2026-11-01", *extra])


def test_query_string_covers_title_abstract_and_categories():
    q = discover.Query("x", ("visual prompting", "prompt tuning"), ("cs.CV",))
    assert q.search_query() == ('(ti:"visual prompting" OR abs:"visual prompting" OR '
                                'ti:"prompt tuning" OR abs:"prompt tuning") AND (cat:cs.CV)')
    assert discover.Query("y", ("a b",)).search_query() == '(ti:"a b" OR abs:"a b")'


def test_search_pages_until_the_date_and_stops(files):
    fake = FakeArxiv(search_entries=entries())
    with fake.start() as server:
        found = arxiv.search("q", stop_before="2026-11-01", page_size=2, api_url=server.url,
                             min_interval=0, limiter=RateLimiter())
    assert [r.arxiv_id for r in found] == ["2611.00005", "2611.00004", "2104.08691",
                                           "2611.00002", "2611.00001"]
    starts = [int(r.query["start"][0]) for r in server.requests]
    assert starts == [0, 2, 4]  # the third page holds the first record older than the window
    assert all(r.query["sortBy"] == ["submittedDate"] for r in server.requests)
    assert all(r.query["sortOrder"] == ["descending"] for r in server.requests)


def test_search_stops_at_total_results_and_max_results():
    fake = FakeArxiv(search_entries=entries()[:3])
    with fake.start() as server:
        found = arxiv.search("q", page_size=2, api_url=server.url, min_interval=0,
                             limiter=RateLimiter())
        assert len(found) == 3 and len(server.requests) == 2
    fake = FakeArxiv(search_entries=entries())
    with fake.start() as server:
        found = arxiv.search("q", page_size=2, max_results=3, api_url=server.url,
                             min_interval=0, limiter=RateLimiter())
        assert len(found) == 3
        assert [r.query["max_results"][0] for r in server.requests] == ["2", "1"]


def test_search_retries_503_then_reports_a_rejected_query():
    fake = FakeArxiv(search_entries=entries(), fail_first=1, retry_after="0")
    with fake.start() as server:
        found = arxiv.search("q", stop_before="2026-11-19", api_url=server.url, min_interval=0,
                             backoff=0.01, limiter=RateLimiter())
    assert [r.arxiv_id for r in found] == ["2611.00005"]
    fake = FakeArxiv(search_entries=entries(), rejected_queries={"bad"})
    with fake.start() as server, pytest.raises(ArxivError, match="rejected the query 'bad'"):
        arxiv.search("bad", api_url=server.url, min_interval=0, limiter=RateLimiter())


def test_search_is_rate_limited_between_pages():
    fake = FakeArxiv(search_entries=entries())
    with fake.start() as server:
        arxiv.search("q", page_size=2, max_results=6, api_url=server.url, min_interval=0.15,
                     limiter=RateLimiter())
    times = [r.when for r in server.requests]
    assert len(times) == 3
    assert all(b - a >= 0.14 for a, b in zip(times, times[1:]))


def test_discover_drops_listed_papers_and_ranks_transparently(files, capsys):
    fake = FakeArxiv(search_entries=entries())
    out = files / "report.md"
    with fake.start() as server:
        assert run_cli(files, server, "--out", str(out), "--json", str(files / "c.json")) == 0
    data = json.loads((files / "c.json").read_text())
    assert data["fetched"] == 5 and data["already_listed"] == 2
    ranked = [(c["arxiv"], c["score"]) for c in data["candidates"]]
    # 2611.00001: both terms in the title (+6) and names WARP by arXiv id (+2)
    # 2611.00005: one term in title (+3), and names WARP by its method name (+2)
    # 2611.00004: one term in the abstract only (+1)
    assert ranked == [("2611.00001", 8), ("2611.00005", 5), ("2611.00004", 1)]
    report = out.read_text()
    assert "repro add 2611.00001\nrepro add 2611.00005\nrepro add 2611.00004" in report
    assert "2104.08691" not in report and "2611.00002" not in report
    assert "2609.00001" not in report  # older than --since
    assert "names arXiv 2101.00121 (+2)" in report and "names WARP (+2)" in report
    assert "3 candidate(s) since 2026-11-01" in capsys.readouterr().err


def test_discover_limit_and_stdout(files, capsys):
    fake = FakeArxiv(search_entries=entries())
    with fake.start() as server:
        assert run_cli(files, server, "--limit", "1") == 0
    printed = capsys.readouterr().out
    assert "(the top 1 shown)" in printed and printed.count("repro add ") == 1


def test_discover_with_no_candidates_says_so(files):
    fake = FakeArxiv(search_entries=[])
    out = files / "r.md"
    with fake.start() as server:
        assert run_cli(files, server, "--out", str(out)) == 0
    assert "No new candidates." in out.read_text()


def test_discover_markdown_escapes_hostile_titles(files):
    hostile = make_entry("2611.00009", "Model Reprogramming | <script>alert(1)</script> [x](y)",
                         "x", "2026-11-20T00:00:00Z")
    fake = FakeArxiv(search_entries=[hostile])
    out = files / "r.md"
    with fake.start() as server:
        assert run_cli(files, server, "--out", str(out)) == 0
    text = out.read_text()
    assert "<script>" not in text and "\\| &lt;script>" in text and "\\[x\\](y)" in text


def test_discover_service_failure_exits_1_and_writes_nothing(files, capsys):
    fake = FakeArxiv(search_entries=entries(), fail_first=100)
    out = files / "r.md"
    with fake.start() as server:
        assert run_cli(files, server, "--out", str(out), "--retries", "0") == 1
    assert not out.exists()
    assert "error: arXiv API" in capsys.readouterr().err


@pytest.mark.parametrize("config, message", [
    ("", "give at least one [[query]]"),
    ("[[query]]\nname = 'x'\nterms = []\n", "query[0].terms: must not be empty"),
    ("[[query]]\nname = 'x'\nterms = ['a']\ncategories = ['not a cat']\n",
     "is not an arXiv category"),
    ("[[query]]\nname = 'x'\nterms = ['a\"b']\n", "cannot contain a double quote"),
    ("[[query]]\nname = 'x'\nterms = ['a']\nbogus = 1\n", "unknown key(s): bogus"),
    ("since_days = 0\n[[query]]\nname = 'x'\nterms = ['a']\n", "since_days must be a positive"),
    ("[[query]\n", "not valid TOML"),
    ("colour = 1\n[[query]]\nname = 'x'\nterms = ['a']\n", "colour: unknown setting"),
])
def test_bad_config_is_a_usage_error_naming_the_field(files, capsys, config, message):
    (files / "discover.toml").write_text(config, encoding="utf-8")
    assert main(["discover", "--config", str(files / "discover.toml"),
                 "--database", str(files / "papers.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and "discover.toml" in err


def test_repository_config_is_valid():
    config = discover.load_config(Path(__file__).parents[1] / "discover.toml")
    assert len(config.queries) >= 4
    assert {"model reprogramming", "visual prompting", "prompt tuning",
            "in-context learning"} <= {q.name for q in config.queries}


def test_known_papers_take_short_method_names_only():
    class E:
        def __init__(self, title, arxiv=None):
            self.title, self.arxiv = title, arxiv

    names = [k.name for k in discover.known_papers(
        [E("BlackVIP: Black-Box Visual Prompting"), E("Voice2Series: Reprogramming"),
         E("Prompt tuning: a study"), E("No colon here")])]
    assert names == ["BlackVIP", "Voice2Series", None, None]
