"""The link checker's offline parts: extraction, anchors, relative links, config, reports, CLI.

Nothing here opens a socket; the HTTP engine is tested against local servers in
``test_links_http.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reprogrammability.cli import main
from reprogrammability.links.anchors import LocalChecker
from reprogrammability.links.config import ConfigError, load_config, parse_codes, parse_duration
from reprogrammability.links.extract import (
    LOCAL,
    OTHER,
    REMOTE,
    ExtractError,
    Link,
    default_inputs,
    extract_collection_text,
    extract_markdown_text,
    markdown_anchors,
)
from reprogrammability.links.report import to_markdown
from reprogrammability.links.results import Result, Status
from reprogrammability.links.runner import Checked

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = """\
# Title

Some [link](https://a.example/x_(y)) and ![img](img/logo.png "Logo") and [![b](https://b.example/b.svg)](https://c.example/)
<https://d.example/auto> and bare https://e.example/path. Also (https://f.example/g) and `https://code.example` inline.
[ref]: <https://g.example/ref> "title"
<a href="https://i.example/?a=1&amp;b=2">x</a> <img src='pic.png'>
<!-- https://hidden.example/ -->
<!--
[hidden](https://hidden2.example)
-->
```
https://fenced.example/
```
~~~python
[x](https://fenced2.example)
~~~
| col | https://table.example/x |
[local](docs/guide.md#usage) [same](#title) [m](mailto:a@b.c)
[esc](https://j.example/a\\_b)
"""


def test_markdown_extraction_finds_every_construct_with_lines():
    got = [(l.line, l.kind, l.target) for l in extract_markdown_text(SAMPLE, "README.md")]
    assert got == [
        (3, REMOTE, "https://a.example/x_(y)"),
        (3, LOCAL, "img/logo.png"),
        (3, REMOTE, "https://b.example/b.svg"),
        (3, REMOTE, "https://c.example/"),
        (4, REMOTE, "https://d.example/auto"),
        (4, REMOTE, "https://e.example/path"),
        (4, REMOTE, "https://f.example/g"),
        (5, REMOTE, "https://g.example/ref"),
        (6, REMOTE, "https://i.example/?a=1&b=2"),
        (6, LOCAL, "pic.png"),
        (17, REMOTE, "https://table.example/x"),
        (18, LOCAL, "docs/guide.md#usage"),
        (18, LOCAL, "#title"),
        (18, OTHER, "mailto:a@b.c"),
        (19, REMOTE, "https://j.example/a_b"),
    ]


def test_code_and_comments_hold_no_links():
    targets = {l.target for l in extract_markdown_text(SAMPLE, "README.md")}
    assert not any(("code" in t or "hidden" in t or "fenced" in t) for t in targets)


HEADINGS = """\
# Reprogrammability

## Model Reprogramming (MR)
## λ · configuration
## Usage
text
## Usage
## Usage ##
Setext Heading
--------------
## `code` and [a link](https://x.example) and _emphasis_ and snake_case
## Escaped \\_underscores\\_
<a id="explicit"></a>
<a name="named-anchor"></a>
<div id='block'></div>

```
## Not A Heading
```
"""


def test_anchors_follow_github_slugs_and_duplicate_suffixes():
    anchors = markdown_anchors(HEADINGS)
    assert {
        "reprogrammability",
        "model-reprogramming-mr",
        "λ--configuration",
        "usage",
        "usage-1",
        "usage-2",
        "setext-heading",
        "code-and-a-link-and-emphasis-and-snake_case",
        "escaped-_underscores_",
        "explicit",
        "named-anchor",
        "block",
    } == anchors


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(HEADINGS, encoding="utf-8")
    (tmp_path / "docs" / "my file.md").write_text("# Spaced\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "papers.yaml").write_text("papers: []\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("# Top\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "target,source,ok",
    [
        ("docs/guide.md", "README.md", True),
        ("docs/guide.md#usage", "README.md", True),
        ("docs/guide.md#usage-2", "README.md", True),
        ("docs/guide.md#usage-3", "README.md", False),
        ("docs/guide.md#explicit", "README.md", True),
        ("docs/guide.md#Usage", "README.md", True),
        ("guide.md#model-reprogramming-mr", "docs/guide.md", True),
        ("../README.md#top", "docs/guide.md", True),
        ("/README.md#top", "docs/guide.md", True),
        ("#top", "README.md", True),
        ("#nowhere", "README.md", False),
        ("docs/missing.md", "README.md", False),
        ("docs/my%20file.md#spaced", "README.md", True),
        ("docs/", "README.md", True),
        ("data/papers.yaml#L1", "README.md", True),
        ("data/papers.yaml?plain=1", "README.md", True),
        ("../outside.md", "README.md", False),
    ],
)
def test_relative_links_and_anchors(repo, target, source, ok):
    result = LocalChecker(repo).check(Link(target, source, 1, LOCAL))
    assert (result.status is Status.OK) is ok, result.reason
    if not ok:
        assert result.status is Status.DEAD and result.status.failing


def test_broken_anchor_names_file_and_suggests(repo):
    result = LocalChecker(repo).check(Link("docs/guide.md#usge", "README.md", 3, LOCAL))
    assert result.reason == "no anchor #usge in docs/guide.md (did you mean #usage?)"


PAPERS = """\
# the database
papers:
  - title: "First Paper"
    year: 2020
    url: https://one.example/paper
  - title: Second Paper
    url: https://two.example/paper   # trailing comment
    code: https://github.com/x/y
  - year: 2021
    url: https://three.example/
"""


def test_papers_links_carry_line_title_and_field():
    links = extract_collection_text(PAPERS, "data/papers.yaml")
    assert [(l.line, l.field, l.context, l.target) for l in links] == [
        (5, "url", "First Paper", "https://one.example/paper"),
        (7, "url", "Second Paper", "https://two.example/paper"),
        (8, "code", "Second Paper", "https://github.com/x/y"),
        (10, "url", "entry at line 9", "https://three.example/"),
    ]


def test_papers_yaml_syntax_error_names_the_line():
    with pytest.raises(ExtractError, match=r"^data/papers\.yaml:3:\d+: YAML syntax error"):
        extract_collection_text("papers:\n  - title: x\n    url: a: b\n", "data/papers.yaml")


def test_command_exits_1_on_unreadable_papers(repo, capsys):
    (repo / "data" / "papers.yaml").write_text("papers:\n  - title: 'x\n", encoding="utf-8")
    assert main(["links", "--root", str(repo), "--offline"]) == 1
    assert "data/papers.yaml:" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# config


def test_the_project_config_loads():
    cfg = load_config(ROOT / "links.toml")
    assert cfg.accept == frozenset(range(200, 300))
    assert cfg.allow_private is False and cfg.cache_path == ".cache/links.json"
    assert cfg.max_cache_age == 86400 and cfg.backoff_max == 30
    assert cfg.excluded_by("https://example.com/x") and not cfg.excluded_by("https://arxiv.org/")


def test_config_errors_name_file_line_and_key(tmp_path):
    path = tmp_path / "links.toml"
    path.write_text("retries = 2\nexlude = ['x']\n")
    with pytest.raises(ConfigError, match=r"links\.toml:2: exlude: unknown key"):
        load_config(path)
    path.write_text("[arxiv]\nbatch_size = 0\n")
    with pytest.raises(
        ConfigError, match=r"links\.toml:2: arxiv\.batch_size: expected an integer >= 1"
    ):
        load_config(path)
    path.write_text("exclude = ['(unclosed']\n")
    with pytest.raises(
        ConfigError, match=r"links\.toml:1: exclude: .* not a valid regular expression"
    ):
        load_config(path)
    path.write_text("accept = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_codes_and_durations():
    assert parse_codes(["200..=204", 403], "x") == frozenset({200, 201, 202, 203, 204, 403})
    assert parse_codes("200..203,418", "x") == frozenset({200, 201, 202, 418})
    assert parse_codes("200-201", "x") == frozenset({200, 201})
    with pytest.raises(ConfigError):
        parse_codes(["2xx"], "x")
    assert parse_duration("1d 12h", "x") == 129600
    assert parse_duration(90, "x") == 90 and parse_duration("250", "x") == 250
    with pytest.raises(ConfigError):
        parse_duration("soon", "x")


# ---------------------------------------------------------------------------------------------
# command line (offline)


@pytest.mark.parametrize(
    "argv",
    [
        ["--exclude", "(bad"],
        ["--accept", "2xx"],
        ["--base", "HEAD"],
        ["--changed-only"],
        ["--timeout", "soon"],
        ["--read-timeout", "0"],
        ["--concurrency", "0"],
        ["no/such/file.md"],
        ["--config", "no-such.toml"],
        ["--unknown-flag"],
    ],
)
def test_usage_errors_exit_2(repo, argv, capsys):
    try:
        code = main(["links", "--root", str(repo), "--offline", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2


def test_offline_checks_local_links_only(repo, capsys):
    (repo / "README.md").write_text(
        "# Top\n[ok](docs/guide.md#usage-1)\n[bad](docs/guide.md#usage-9)\n"
        "[web](https://unreachable.invalid/)\n",
        encoding="utf-8",
    )
    json_path = repo / "out.json"
    assert main(["links", "--root", str(repo), "--offline", "--json", str(json_path)]) == 1
    out = capsys.readouterr().out
    assert "README.md:3: docs/guide.md#usage-9: dead: no anchor #usage-9 in docs/guide.md" in out
    assert "excluded 2" in out  # README's web link and the one in guide.md's heading
    data = json.loads(json_path.read_text())
    assert data["summary"]["counts"]["dead"] == 1 and data["summary"]["exit_code"] == 1
    (repo / "README.md").write_text("# Top\n[ok](docs/guide.md#usage-1)\n", encoding="utf-8")
    assert main(["links", "--root", str(repo), "--offline"]) == 0


def test_default_inputs_follow_the_config(repo):
    (repo / "CONTRIBUTING.md").write_text("x\n")
    found = [
        p.relative_to(repo).as_posix()
        for p in default_inputs(
            repo, "data/papers.yaml", ["README.md", "docs/*.md", "CONTRIBUTING.md"]
        )
    ]
    assert found == [
        "data/papers.yaml",
        "README.md",
        "docs/guide.md",
        "docs/my file.md",
        "CONTRIBUTING.md",
    ]


def test_markdown_report_keeps_contributor_text_inert():
    nasty = "https://x.example/a|b`c<script>"
    checked = [
        Checked(
            Link(nasty, "README.md", 4, REMOTE, context="A | B *paper*"),
            Result(nasty, Status.DEAD, "HTTP 404 Not Found", code=404),
        )
    ]
    md = to_markdown(checked, ["cache | warning"], inputs=["README.md"])
    row = next(line for line in md.splitlines() if line.startswith("| `README.md:4`"))
    assert "``https://x.example/a\\|b`c<script>``" in row
    assert "A \\| B \\*paper\\*" in row
    assert row.count(" | ") == 2  # three cells: escaped pipes do not split the table
    assert "## Dead: 1" in md and "cache \\| warning" in md


def test_annotations_escape_properties_and_messages():
    """GitHub's workflow-command rules: ``%``, CR and LF in the message; also ``:`` and ``,``
    in a property (they separate the command from its message and properties from each other)."""
    from reprogrammability.annotations import annotation, escape_data, escape_property

    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    line = annotation("error", "bad\rline", file="docs/a,b:c.md", line=3, title="dead link")
    assert line == "::error file=docs/a%2Cb%3Ac.md,line=3,title=dead link::bad%0Dline"
    assert annotation("warning", "whole file", file="x.md", line=0) == "::warning file=x.md::whole file"
    with pytest.raises(ValueError):
        annotation("fatal", "x")


def test_link_annotations_cannot_inject_properties_or_commands():
    import io

    from reprogrammability.links.report import print_console

    url = "https://x.example/a"
    checked = [
        Checked(
            Link(url, "docs/we,ird:name.md", 7, REMOTE),
            Result(url, Status.DEAD, "HTTP 404\r::error file=evil.md::injected\nmore", code=404),
        )
    ]
    out = io.StringIO()
    print_console(checked, [], out, github=True)
    lines = [l for l in out.getvalue().splitlines() if l.startswith("::")]
    assert len(lines) == 1  # the CR and LF did not start a second command
    assert lines[0].startswith("::error file=docs/we%2Cird%3Aname.md,line=7,title=dead link::")
    assert "%0D::error file=evil.md::injected%0Amore" in lines[0]


def test_allow_private_hosts_in_the_config(tmp_path):
    path = tmp_path / "links.toml"
    path.write_text('allow_private_hosts = ["mirror.lan", "10.0.0.5", "10.1.0.0/16", "[::1]"]\n')
    cfg = load_config(path)
    assert cfg.allow_private_hosts == ("mirror.lan", "10.0.0.5", "10.1.0.0/16", "[::1]")
    assert cfg.allow_private is False
    path.write_text('cache = true\nallow_private_hosts = ["10.0.0.0/33"]\n')
    with pytest.raises(ConfigError, match=r"links.toml:2: allow_private_hosts: '10.0.0.0/33' is not"):
        load_config(path)
    path.write_text('allow_private_hosts = "10.0.0.1"\n')
    with pytest.raises(ConfigError, match="expected a list"):
        load_config(path)


def test_allow_private_host_flag_is_validated(repo, capsys):
    code = main(["links", "--root", str(repo), "--offline", "--allow-private-host", "http://x/"])
    assert code == 2
    assert "--allow-private-host: 'http://x/' is not a host name" in capsys.readouterr().err


def test_address_guard_allowlist():
    from reprogrammability.links.checker import AddressGuard

    def resolver(host, port, *args):
        table = {"mirror.lan": ["10.0.0.7"], "other.lan": ["10.9.9.9"], "pub.test": ["93.184.216.34"]}
        return [(2, 1, 6, "", (a, port)) for a in table[host]]

    guard = AddressGuard(resolver, allow=["mirror.lan", "192.168.1.0/24", "::1"])
    assert guard.refusal("http://mirror.lan/x") is None  # by name
    assert guard.refusal("http://192.168.1.20/x") is None  # by network
    assert guard.refusal("http://[::1]:8080/x") is None  # by address
    assert guard.refusal("http://pub.test/x") is None  # public anyway
    assert "other.lan -> 10.9.9.9 is private" in guard.refusal("http://other.lan/x")
    assert "192.168.2.1 is private" in guard.refusal("http://192.168.2.1/x")
    assert "localhost is loopback" in AddressGuard(resolver, allow=["mirror.lan"]).refusal(
        "http://localhost/x"
    )
    assert AddressGuard(resolver, allow_all=True).refusal("http://other.lan/x") is None


def test_json_report_has_every_result_field_one_result_per_line():
    from dataclasses import fields

    from reprogrammability.links.report import to_json

    a = Result("https://a.example/", Status.OK, "HTTP 200 OK", code=200, chain=["301 x"])
    b = Result("https://b.example/é", Status.DEAD, "HTTP 404", code=404)
    checked = [
        Checked(Link(a.url, "README.md", 1, REMOTE), a),
        Checked(Link(b.url, "README.md", 2, REMOTE), b),
        Checked(Link(a.url, "docs/x.md", 5, REMOTE), a),
    ]
    text = to_json(checked, ["w"], inputs=["README.md"])
    data = json.loads(text)
    assert set(data["results"][0]) == {f.name for f in fields(Result)} | {"occurrences"}
    assert [r["url"] for r in data["results"]] == [a.url, b.url]
    assert len(data["results"][0]["occurrences"]) == 2
    assert data["summary"]["counts"]["dead"] == 1 and data["warnings"] == ["w"]
    assert sum(1 for line in text.splitlines() if line.lstrip().startswith('{"url"')) == 2
    empty = json.loads(to_json([], [], inputs=[]))
    assert empty["results"] == [] and empty["summary"]["occurrences"] == 0
