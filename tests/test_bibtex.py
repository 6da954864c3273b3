"""BibTeX export (keys, escaping, validity) and ``repro bib import`` (mapping, duplicates)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import bibtexparser
import pytest
from reprogrammability.bibtex import (
    base_key,
    decode_latex,
    export_bib,
    latex_escape,
    person,
    protect_title,
    split_names,
)
from reprogrammability.cli import main
from reprogrammability.papers import Paper
from reprogrammability.validate import load

HERE = Path(__file__).parent
BIB = HERE / "fixtures" / "bib"
DB = HERE / "fixtures" / "arxiv" / "papers_commented.yaml"

#: What every appended entry ends with: the taxonomy left to fill in.
FILL_IN_LINES = (
    "    paradigm: []       # fill in: model reprogramming | prompt tuning | "
    "prompt instruction\n"
    "    configuration: []  # fill in: learnable | fixed\n"
    "    location: []       # fill in: input | embedding | hidden\n"
    "    operator: []       # fill in: additive | concatenative | parametric\n"
    "    alignment: []      # fill in: identity | rule-based | linear | statistical\n"
)


def paper(title="Adversarial Reprogramming of Neural Networks", authors=("Gamaleldin F. Elsayed",),
          year=2019, venue="ICLR", **kw) -> Paper:
    kw.setdefault("url", "https://arxiv.org/abs/1806.11146")
    kw.setdefault("id", base_key(authors, year, title))
    return Paper(title=title, authors=tuple(authors), year=year, venue=venue,
                 paradigm=("model reprogramming",), configuration=("learnable",),
                 location=("input",), operator=("additive",), alignment=("rule-based",), **kw)


def parse(text: str):
    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    return library


# --- keys ----------------------------------------------------------------------------------------

def test_key_is_lastname_year_first_significant_word():
    assert base_key(["Gamaleldin F. Elsayed", "Ian Goodfellow"], 2019,
                    "Adversarial Reprogramming of Neural Networks") == "elsayed2019adversarial"
    assert base_key(["Brian Lester"], 2021, "The Power of Scale") == "lester2021power"
    assert base_key(["Renée Kałuża"], 1999, "On a Théorème") == "kaluza1999theoreme"
    assert base_key(["Sohl-Dickstein, Jascha"], 2020, "A: B") == "sohldickstein2020b"
    assert base_key(["Martin Luther King Jr."], 1963, "Of the Dream") == "king1963dream"
    assert base_key(["Søren Ørsted"], 2020, "Time-LLM: Reprogramming") == "orsted2020time"
    assert base_key([], 2020, "The Of A") == "anon2020untitled"


def test_new_ids_take_b_c_on_a_clash_and_never_rename():
    from reprogrammability.bibtex import new_id

    authors, title = ["Gamaleldin F. Elsayed"], "Adversarial Reprogramming of Neural Networks"
    assert new_id(authors, 2019, title, []) == "elsayed2019adversarial"
    taken = ["elsayed2019adversarial"]
    assert new_id(authors, 2019, "Adversarial Examples", taken) == "elsayed2019adversarialb"
    taken.append("elsayed2019adversarialb")
    assert new_id(authors, 2019, "The Adversarial Thing", taken) == "elsayed2019adversarialc"
    # bibtex.STOP_WORDS: "Towards" is skipped, "From" is not
    assert new_id(["A Ye"], 2025, "Towards Better Prompts", []) == "ye2025better"
    assert new_id(["A Ye"], 2025, "From Words to Pixels", []) == "ye2025from"
    many: list[str] = []
    for _ in range(30):  # runs past z
        many.append(new_id(authors, 2019, title, many))
    assert len(set(many)) == 30


def test_export_keys_are_the_ids_so_insertion_renames_nothing():
    a = paper(id="elsayed2019adversarial")
    b = paper(title="Adversarial Examples Again", id="elsayed2019adversarialb",
              url="https://example.org/b")
    before = [e.key for e in parse(export_bib([a, b])).entries]
    # a new paper by the same author in the same year goes *before* both
    inserted = paper(title="Adversarial Early Work", id="elsayed2019adversarialc",
                     url="https://example.org/c")
    after = [e.key for e in parse(export_bib([inserted, a, b])).entries]
    assert before == ["elsayed2019adversarial", "elsayed2019adversarialb"]
    assert after == ["elsayed2019adversarialc", *before]


# --- escaping ------------------------------------------------------------------------------------

def test_latex_specials_are_escaped():
    assert latex_escape("R&D 100% a_b #1 $5 ~x ^y \\z {w}") == (
        r"R\&D 100\% a\_b \#1 \$5 \textasciitilde{}x \textasciicircum{}y \textbackslash{}z "
        r"\textbraceleft{}w\textbraceright{}")
    assert latex_escape("plain Ünïcode") == "plain Ünïcode"


def test_meaningful_capitals_are_protected_and_the_rest_left_to_the_style():
    assert protect_title("CLIP: Learning Transferable Models from ImageNet") == (
        "{CLIP}: Learning Transferable Models from {ImageNet}")
    assert protect_title("GPT-3 and LoRA (ViT) \"BERT\"") == (
        "{GPT-3} and {LoRA} ({ViT}) \"{BERT}\"")
    assert protect_title("Adversarial Reprogramming of Neural Networks") == (
        "Adversarial Reprogramming of Neural Networks")
    assert protect_title("Q&A for 3D x-Ray ÉCOLE") == r"{Q\&A} for {3D} {x-Ray} {ÉCOLE}"
    assert protect_title("  spaced\n  out  ") == "spaced out"


# --- export --------------------------------------------------------------------------------------

def test_entry_types_fields_and_order():
    papers = [
        paper(arxiv="1806.11146"),
        paper(title="Learning to Prompt for Vision-Language Models",
              authors=("Kaiyang Zhou", "Ziwei Liu"), year=2022, venue="IJCV",
              doi="10.1007/s11263-022-01653-1", url="https://doi.org/10.1007/s11263-022-01653-1"),
        paper(title="Visual Prompting via Image Inpainting", authors=("Amir Bar",), year=2022,
              venue="arXiv", arxiv="2209.00647", url="https://arxiv.org/abs/2209.00647"),
        paper(title="Marker Prompts", authors=("A B",), year=2023, venue="NeurIPS Workshop"),
    ]
    text = export_bib(papers)
    assert text.startswith("% The reprogrammability database as BibTeX.")
    assert "@inproceedings{elsayed2019adversarial,\n" \
           "  title = {Adversarial Reprogramming of Neural Networks},\n" \
           "  author = {Gamaleldin F. Elsayed},\n" \
           "  booktitle = {International Conference on Learning Representations (ICLR)},\n" \
           "  year = {2019},\n" \
           "  eprint = {1806.11146},\n" \
           "  archivePrefix = {arXiv},\n" \
           "  url = {https://arxiv.org/abs/1806.11146},\n" \
           "}\n" in text
    library = parse(text)
    assert [e.key for e in library.entries] == [
        "elsayed2019adversarial", "zhou2022learning", "bar2022visual", "b2023marker"]
    assert [e.entry_type for e in library.entries] == [
        "inproceedings", "article", "misc", "inproceedings"]
    ijcv = library.entries[1].fields_dict
    assert ijcv["journal"].value == "International Journal of Computer Vision"
    assert ijcv["doi"].value == "10.1007/s11263-022-01653-1"
    assert ijcv["author"].value == "Kaiyang Zhou and Ziwei Liu"
    misc = library.entries[2].fields_dict
    assert misc["eprint"].value == "2209.00647" and misc["archivePrefix"].value == "arXiv"
    assert "journal" not in misc and "booktitle" not in misc
    assert library.entries[3].fields_dict["booktitle"].value == "NeurIPS Workshop"
    assert export_bib(papers) == text  # deterministic


def test_export_parses_back_to_the_same_titles_authors_and_years():
    papers = load(DB).papers
    awkward = [
        paper(title="R&D at 100%: {Braces}, under_scores, #tags, $money$, ~tilde^ and \\back",
              authors=("Jörg Müller", "Barnes and Noble", "King, Jr."), year=2001, venue="Pattern"
              " Recognition", url="https://example.org/a_b%20c#frag"),
        paper(title="CLIP Meets GPT-4V: ImageNet-1k Über Alles", authors=("Renée Kałuża",),
              year=2024, venue="Some Symposium on Things", doi="10.1000/a_b(c)"),
    ]
    papers = papers + awkward
    library = parse(export_bib(papers))
    assert len(library.entries) == len(papers)
    for p, e in zip(papers, library.entries):
        f = e.fields_dict
        assert decode_latex(f["title"].value) == p.title
        assert [person(n) for n in split_names(f["author"].value)] == list(p.authors)
        assert int(f["year"].value) == p.year
        assert f["url"].value == p.url
        if p.doi:
            assert f["doi"].value == p.doi


def test_export_is_linear_in_size():
    many = [replace(paper(), title=f"Paper number {i}", year=2000 + i % 20, id=f"p{i}")
            for i in range(2000)]
    library = parse(export_bib(many))
    keys = [e.key for e in library.entries]
    assert len(keys) == len(set(keys)) == 2000


def test_bib_export_cli_writes_checks_and_reports_stale(tmp_path, capsys):
    out = tmp_path / "papers.bib"
    assert main(["bib", "export", "--database", str(DB), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == export_bib(load(DB).papers)
    assert main(["bib", "export", "--database", str(DB), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("Visual Prompt", "Visual Prompts"),
                   encoding="utf-8")
    capsys.readouterr()
    assert main(["bib", "export", "--database", str(DB), "--out", str(out), "--check"]) == 1
    captured = capsys.readouterr()
    assert "-  title = {Visual Prompts Tuning}," in captured.out
    assert "+  title = {Visual Prompt Tuning}," in captured.out
    assert "stale" in captured.err
    assert "Visual Prompts" in out.read_text(encoding="utf-8")  # --check wrote nothing


def test_bib_export_refuses_an_invalid_database(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("papers:\n  - title: x\n", encoding="utf-8")
    out = tmp_path / "out.bib"
    assert main(["bib", "export", "--database", str(bad), "--out", str(out)]) == 1
    assert "missing required field" in capsys.readouterr().err
    assert not out.exists()


def test_bib_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["bib"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["bib", "import"])
    assert info.value.code == 2


# --- import --------------------------------------------------------------------------------------

@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "papers.yaml"
    shutil.copy(DB, path)
    return path


def bib_import(bib: Path, db: Path, *extra: str) -> int:
    return main(["bib", "import", str(bib), "--database", str(db), *extra])


def test_names_in_both_bibtex_forms():
    assert split_names("Elsayed, Gamaleldin F and Goodfellow, Ian and {Barnes and Noble}") == [
        "Elsayed, Gamaleldin F", "Goodfellow, Ian", "{Barnes and Noble}"]
    assert [person(n) for n in split_names(
        r"M{\"u}ller, J{\"o}rg AND Jascha Sohl{-}Dickstein and King, Jr., Martin Luther")] == [
        "Jörg Müller", "Jascha Sohl-Dickstein", "Martin Luther King Jr."]


def test_import_google_scholar_style(db, capsys):
    before = db.read_text(encoding="utf-8")
    assert bib_import(BIB / "scholar.bib", db) == 1  # some entries could not be imported
    out, err = capsys.readouterr()
    src = BIB / "scholar.bib"
    assert err.splitlines() == [
        (f"{src}:3: elsayed2018adversarial: already in {db}:6 (same arXiv id 1806.11146); "
        "not added"),
        f"{src}:10: tsai2020transfer: cannot map: no url, doi or eprint to derive a url from",
        f"{src}:37: zhou2022conditional: cannot map: no url, doi or eprint to derive a url from",
        (f"{src}:45: notitle2021: cannot map: no title, no url, doi or eprint to derive a url "
        "from, no venue (booktitle or journal)"),
        f"{src}:51: noyear: cannot map: no year",
    ]
    assert f"imported {src}:19 (bahng2022exploring) as {db}:103:" in out
    after = db.read_text(encoding="utf-8")
    # Only the appended entries differ; every comment survives.
    closing = "\n# trailing comment: the end of the list\n"
    assert after.startswith(before[: -len(closing)]) and after.endswith(closing)
    added = after[len(before) - len(closing): -len(closing)]
    assert added == (
        "\n"
        "  - id: bahng2022exploring\n"
        "    title: \"Exploring visual prompts for adapting large-scale models\"\n"
        "    authors: [Hyojin Bahng, Ali Jahanian, Swami Sankaranarayanan, Phillip Isola]\n"
        "    year: 2022\n"
        "    venue: arXiv\n"
        "    arxiv: \"2203.17274\"\n"
        "    url: https://arxiv.org/abs/2203.17274\n"
        + FILL_IN_LINES
        + "\n"
        "  - id: muller2023schone\n"
        "    title: \"Schöne Neue Welt: CLIP prompts & Übersetzungen\"\n"
        "    authors: [Jörg Müller, Renée Kałuża, The OpenPrompt Team]\n"
        "    year: 2023\n"
        "    venue: Pattern Recognition\n"
        "    doi: 10.1016/j.patcog.2023.109999\n"
        "    url: https://doi.org/10.1016/j.patcog.2023.109999\n"
        + FILL_IN_LINES
    )
    # The old entries still validate; the new ones fail only on the fields left to fill in.
    result = load(db)
    assert len(result.papers) == 7
    assert {p.field.split(".")[-1] for p in result.problems} == {
        "paradigm", "configuration", "location", "operator", "alignment"}


def test_import_dblp_style_refuses_duplicates_against_the_database(db, capsys):
    assert bib_import(BIB / "dblp.bib", db) == 1
    out, err = capsys.readouterr()
    src = BIB / "dblp.bib"
    assert err.splitlines() == [
        f"{src}:1: DBLP:conf/iclr/ElsayedGS19: already in {db}:6 (same title); not added",
        (f"{src}:16: DBLP:journals/corr/abs-2109-01134: already in {db}:39 (same arXiv id "
        "2109.01134); not added"),
        f"{src}:33: DBLP:journals/ijcv/ZhouYLL22: already in {db}:39 (same title); not added",
        (f"{src}:78: DBLP:journals/corr/abs-2203-12119: already in {db}:52 (same arXiv id "
        "2203.12119); not added"),
        (f"{src}:91: cannot read this entry: Unexpected block start: `@inproceedings`. Was still "
        "looking for field-value closing `}`"),
    ]
    assert "(DBLP:conf/nips/WeiWSBIXCLZ22)" in out and "(after-broken)" in out
    text = db.read_text(encoding="utf-8")
    assert "venue: NeurIPS\n" in text and "venue: ICML Workshop\n" in text
    # DBLP escapes underscores in URLs; the database gets the real URL.
    assert "url: http://papers.nips.cc/paper_files/paper/2022/hash/" in text
    assert "Ed H. Chi, Quoc V. Le, Denny Zhou]" in text


def test_import_refuses_duplicates_within_the_bib_and_maps_dblp_fields(tmp_path, capsys):
    fresh = tmp_path / "papers.yaml"
    fresh.write_text("# empty database\npapers:\n", encoding="utf-8")
    assert bib_import(BIB / "dblp.bib", fresh) == 1
    err = capsys.readouterr().err
    src = BIB / "dblp.bib"
    assert (f"{src}:33: DBLP:journals/ijcv/ZhouYLL22: duplicate of "
            f"DBLP:journals/corr/abs-2109-01134 at {src}:16; not added") in err
    import yaml

    entries = {e["title"]: e for e in yaml.safe_load(fresh.read_text(encoding="utf-8"))["papers"]}
    assert len(entries) == 5
    elsayed = entries["Adversarial Reprogramming of Neural Networks"]
    assert elsayed["venue"] == "ICLR" and elsayed["year"] == 2019
    assert elsayed["authors"] == ["Gamaleldin F. Elsayed", "Ian J. Goodfellow",
                                  "Jascha Sohl-Dickstein"]
    assert elsayed["url"] == "https://openreview.net/forum?id=Syx_Ss05tm"
    coop = entries["Learning to Prompt for Vision-Language Models"]
    assert (coop["venue"], coop["arxiv"], coop["year"]) == ("arXiv", "2109.01134", 2021)
    vpt = entries["Visual Prompt Tuning"]
    assert vpt["arxiv"] == "2203.12119" and vpt["doi"] == "10.48550/ARXIV.2203.12119"


def test_import_dry_run_writes_nothing(db, capsys):
    before = db.read_bytes()
    assert bib_import(BIB / "scholar.bib", db, "--dry-run") == 1
    out = capsys.readouterr().out
    assert db.read_bytes() == before
    assert '  - id: bahng2022exploring\n' \
        '    title: "Exploring visual prompts for adapting large-scale models"' in out
    assert "dry run: 2 of 7 entries would be appended" in out


def test_import_all_good_exits_0_and_twice_refuses_everything(tmp_path, capsys):
    bib = tmp_path / "one.bib"
    bib.write_text("@misc{x, title = {One {Good} Entry}, author = {Doe, Jane},\n"
                   "  year = 2020, eprint = {2001.00001}, archivePrefix = {arXiv}}\n",
                   encoding="utf-8")
    path = tmp_path / "papers.yaml"
    path.write_text("papers:\n", encoding="utf-8")
    assert bib_import(bib, path) == 0
    assert bib_import(bib, path) == 1
    assert "same arXiv id 2001.00001" in capsys.readouterr().err


def test_import_unreadable_inputs(tmp_path, capsys):
    assert bib_import(tmp_path / "missing.bib", DB) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty.bib"
    empty.write_text("% nothing here\n", encoding="utf-8")
    assert bib_import(empty, DB) == 1
    assert "no entries found" in capsys.readouterr().err
