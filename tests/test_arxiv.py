"""The arXiv client against a local fake of the Atom API (tests/fixtures/arxiv)."""

from __future__ import annotations

import itertools
import socket
import sys
import time
from pathlib import Path

import pytest
import requests
from reprogrammability import arxiv
from reprogrammability.arxiv import ArxivError, ArxivRecord, RateLimiter, fetch, normalize_id

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
sys.path.insert(0, str(FIXTURES))
from fake_arxiv import FakeArxiv

pytestmark = pytest.mark.network


def quick(url, **kw):
    """fetch() with no throttling and a private limiter, so tests neither wait nor interfere."""
    kw.setdefault("min_interval", 0)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("limiter", RateLimiter())
    return fetch(api_url=url, **kw)


# --- normalize_id -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("2109.01134", ("2109.01134", None)),
        ("2109.01134v2", ("2109.01134", 2)),
        ("arXiv:2109.01134", ("2109.01134", None)),
        ("  arxiv:2109.01134v12 ", ("2109.01134", 12)),
        ("https://arxiv.org/abs/2109.01134v3", ("2109.01134", 3)),
        ("http://arxiv.org/abs/2109.01134", ("2109.01134", None)),
        ("https://arxiv.org/pdf/2109.01134v1.pdf", ("2109.01134", 1)),
        ("https://arxiv.org/pdf/2109.01134", ("2109.01134", None)),
        ("https://export.arxiv.org/abs/2109.01134?context=cs", ("2109.01134", None)),
        ("0704.0001", ("0704.0001", None)),
        ("1412.6980", ("1412.6980", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("cs/0101001", ("cs/0101001", None)),
        ("math.GT/0309136v1", ("math/0309136", 1)),
        ("cond-mat.str-el/0207270", ("cond-mat/0207270", None)),
        ("https://arxiv.org/abs/hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("https://arxiv.org/pdf/math.GT/0309136v1.pdf", ("math/0309136", 1)),
    ],
)
def test_normalize_id_accepts_every_common_spelling(text, expected):
    assert normalize_id(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "expected e.g."),
        ("1234", "expected e.g."),
        ("2109.01134v", "expected e.g."),
        ("2113.01234", "month 13"),
        ("0612.1234", "start in 0704"),
        ("1412.12345", "four digits"),
        ("1809.1829", "five digits"),
        ("1899.01829", "month 99"),
        ("https://example.org/abs/2109.01134", "expected e.g."),
        ("doi:10.1000/xyz", "expected e.g."),
        ("HEP-TH/9901001", "expected e.g."),
    ],
)
def test_normalize_id_rejects_with_a_clear_message(text, why):
    with pytest.raises(ValueError) as info:
        normalize_id(text)
    assert repr(text.strip()) in str(info.value) and why in str(info.value)


# --- feed parsing -------------------------------------------------------------------------------

def test_parse_feed_reads_every_documented_field():
    fake = FakeArxiv()
    _, body = fake.feed_for(["2109.01134", "hep-th/9901001", "1806.11146"], 3)
    feed = arxiv.parse_feed(body)
    assert not feed.errors
    coop, old, ar = feed.records
    assert coop == ArxivRecord(
        arxiv_id="2109.01134", version=6,
        title="Learning to Prompt for Vision-Language Models",
        authors=("Kaiyang Zhou", "Jingkang Yang", "Chen Change Loy", "Ziwei Liu"),
        published="2021-09-02T17:57:31Z", updated="2022-10-06T08:17:43Z",
        summary=coop.summary, primary_category="cs.CV", categories=("cs.CV", "cs.AI", "cs.LG"),
        doi="10.1007/s11263-022-01653-1",
        journal_ref="International Journal of Computer Vision, 2022",
        comment="International Journal of Computer Vision (IJCV), 2022. Update: Adds results on "
        "the DOSCO benchmark",
    )
    assert coop.summary.startswith("Large pre-trained vision-language models like CLIP have")
    assert "\n" not in coop.summary
    assert coop.year == 2021 and coop.versioned_id == "2109.01134v6"
    assert coop.abs_url == "https://arxiv.org/abs/2109.01134"
    # Old-style id, non-ASCII authors.
    assert (old.arxiv_id, old.version, old.year) == ("hep-th/9901001", 1, 1999)
    assert old.authors == ("José M. Figueroa-O'Farrill", "Renée Kałuża")
    # A title hard-wrapped across lines is collapsed; no DOI or journal_ref -> None.
    assert ar.title == "Adversarial Reprogramming of Neural Networks"
    assert ar.doi is None and ar.journal_ref is None
    assert ar.comment == "Published as a conference paper at ICLR 2019"


def test_parse_feed_reports_error_entries():
    _, body = FakeArxiv(rejected={"2301.00001"}).feed_for(["2301.00001"], 1)
    feed = arxiv.parse_feed(body)
    assert feed.records == []
    assert feed.errors == [("incorrect_id_format_for_2301.00001",
                            "incorrect id format for 2301.00001")]


def test_parse_feed_empty_feed_has_no_records():
    feed = arxiv.parse_feed((FIXTURES / "empty_feed.xml").read_bytes())
    assert feed.records == [] and feed.errors == []


def test_parse_feed_rejects_non_feeds_clearly():
    with pytest.raises(ArxivError, match="not an Atom feed.*Rate exceeded"):
        arxiv.parse_feed("Rate exceeded.")
    with pytest.raises(ArxivError, match="not an Atom <feed>"):
        arxiv.parse_feed("<html><body>maintenance</body></html>")


# --- fetch against the local server -------------------------------------------------------------

def test_fetch_batches_ids_and_sets_max_results():
    ids = ["1806.11146", "2109.01134", "2104.08691", "2203.12119", "2007.08714"]
    with FakeArxiv().start() as server:
        got = quick(server.url, ids=ids, batch_size=2)
    assert [r.ids for r in server.requests] == [ids[0:2], ids[2:4], ids[4:5]]
    assert [r.query["max_results"] for r in server.requests] == [["2"], ["2"], ["1"]]
    assert server.requests[0].path == "/api/query"
    assert server.requests[0].user_agent.startswith("reprogrammability")
    assert list(got) == ids
    assert all(isinstance(got[i], ArxivRecord) for i in ids)
    assert got["2104.08691"].title == "The Power of Scale for Parameter-Efficient Prompt Tuning"
    assert got.errors == {}


def test_fetch_keys_results_by_the_id_as_given_and_respects_versions():
    given = ["https://arxiv.org/abs/1806.11146", "arXiv:1806.11146v1", "hep-th/9901001v1",
             "math.GT/0309136"]
    with FakeArxiv().start() as server:
        got = quick(server.url, ids=given)
    # One request; the versioned id is asked for as such, the old-style one canonicalised.
    assert server.requests[0].ids == ["1806.11146", "1806.11146v1", "hep-th/9901001v1",
                                      "math/0309136"]
    assert got[given[0]].version == 2  # latest
    assert got[given[1]].version == 1  # the one pinned
    assert got[given[2]].arxiv_id == "hep-th/9901001"
    assert got[given[3]] is None  # unknown to arXiv, not an error
    assert got.errors == {}


def test_fetch_unknown_id_is_none():
    with FakeArxiv().start() as server:
        got = quick(server.url, ids=["2301.99999", "1806.11146"])
    assert got["2301.99999"] is None
    assert got["1806.11146"].arxiv_id == "1806.11146"
    assert "2301.99999" not in got.errors


def test_fetch_rejected_id_gets_arxivs_message_and_the_rest_of_the_batch_survives():
    ids = ["1806.11146", "2301.00001", "2109.01134"]
    with FakeArxiv(rejected={"2301.00001"}).start() as server:
        got = quick(server.url, ids=ids)
    assert got["2301.00001"] is None
    assert got.errors == {"2301.00001": "incorrect id format for 2301.00001"}
    assert got["1806.11146"] and got["2109.01134"]
    # The spoiled batch is asked again without the offending id.
    assert [r.ids for r in server.requests] == [ids, ["1806.11146", "2109.01134"]]


def test_fetch_locally_malformed_ids_never_reach_the_server():
    with FakeArxiv().start() as server:
        got = quick(server.url, ids=["not-an-id", "1806.11146"])
    assert server.requests[0].ids == ["1806.11146"]
    assert got["not-an-id"] is None and "not an arXiv id" in got.errors["not-an-id"]


def test_fetch_with_nothing_valid_sends_nothing():
    with FakeArxiv().start() as server:
        got = quick(server.url, ids=["nope"])
    assert server.requests == [] and got == {"nope": None}


class _RecordingSession(requests.Session):
    """Notes when each request leaves the client: the moment the rate limiter controls."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []

    def get(self, *args, **kwargs):  # type: ignore[override]
        self.sent.append(time.monotonic())
        return super().get(*args, **kwargs)


def test_rate_limiter_spaces_requests_within_and_across_calls():
    limiter = RateLimiter()
    interval = 0.25
    with FakeArxiv().start() as server, _RecordingSession() as session:
        quick(server.url, ids=["1806.11146", "2109.01134", "2104.08691"], batch_size=1,
              min_interval=interval, limiter=limiter, session=session)
        quick(server.url, ids=["2203.12119"], min_interval=interval, limiter=limiter,
              session=session)
    assert len(server.requests) == 4
    sent = [b - a for a, b in itertools.pairwise(session.sent)]
    assert min(sent) >= interval - 0.01, sent  # (the clock is read just after the wait)
    # Seen from the server the spacing holds too, give or take network jitter.
    seen = [b.when - a.when for a, b in itertools.pairwise(server.requests)]
    assert min(seen) >= interval - 0.1, seen


def test_rate_limiter_with_a_fake_clock():
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(clock=lambda: now[0], sleep=sleep)
    assert limiter.wait(3.0) == 0.0  # first request goes at once
    now[0] += 1.0
    assert limiter.wait(3.0) == pytest.approx(2.0)
    now[0] += 5.0
    assert limiter.wait(3.0) == 0.0
    assert slept == [pytest.approx(2.0)]


def test_fetch_retries_after_503_honouring_retry_after():
    fake = FakeArxiv(fail_first=1, retry_after="1")
    with fake.start() as server:
        got = quick(server.url, ids=["1806.11146"], backoff=0.0)
    assert got["1806.11146"].title == "Adversarial Reprogramming of Neural Networks"
    assert len(server.requests) == 2
    assert server.requests[1].when - server.requests[0].when >= 0.95


@pytest.mark.parametrize("status", [503, 200])
def test_fetch_retries_arxivs_plain_text_throttle(status):
    fake = FakeArxiv(fail_first=2, fail_status=status, fail_body="Rate exceeded.")
    with fake.start() as server:
        got = quick(server.url, ids=["2109.01134"])
    assert got["2109.01134"].version == 6 and len(server.requests) == 3


def test_fetch_gives_up_after_the_retries_with_a_clear_error():
    fake = FakeArxiv(fail_first=10, fail_status=502)
    expected = "failed after 3 attempts: HTTP 502"
    with fake.start() as server, pytest.raises(ArxivError, match=expected):
        quick(server.url, ids=["2109.01134"], retries=2)
    assert len(server.requests) == 3


def test_fetch_retries_connection_errors_then_fails_clearly():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ArxivError, match="failed after 2 attempts: ConnectionError"):
        quick(f"http://127.0.0.1:{port}/api/query", ids=["2109.01134"], retries=1)


def test_fetch_uses_the_given_session():
    with FakeArxiv().start() as server, requests.Session() as session:
        session.headers["X-Test"] = "1"
        got = quick(server.url, ids=["2203.12119"], session=session)
        assert got["2203.12119"].authors[0] == "Menglin Jia"


def test_retry_after_dates_in_the_past_mean_now():
    """The arXiv client shares the link checker's Retry-After parsing (tested there in full)."""
    assert arxiv.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
