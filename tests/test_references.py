"""Bibliographic references: every catalogue entry is citable, its BibTeX is well formed,
and the human-readable citations print BibTeX escapes as Unicode."""

from __future__ import annotations

import re

import pytest

import spikegrad
from spikegrad import _references as refs
from spikegrad._references import REFERENCES, bibtex, cite, texts
from spikegrad.cli import main

#: Every built-in entry: the elementwise canonical ones and the multi-step ones.
BUILT_IN = (*spikegrad.names(user=False), *spikegrad.multistep_names())

#: Fields each entry type requires (``software``/``misc`` also need one of ``LOCATORS``).
REQUIRED = {
    "article": {"author", "title", "journal", "year"},
    "inproceedings": {"author", "title", "booktitle", "year"},
    "book": {"author", "title", "publisher", "year"},
    "software": {"title", "year"},
    "misc": {"title", "year"},
}
LOCATORS = {"version", "howpublished", "url", "doi"}

_HEADER = re.compile(r"@([a-z]+)\{([A-Za-z][A-Za-z0-9_:-]*),\n")
_FIELD = re.compile(r"  ([a-zA-Z]+) = \{")


def _braced(text: str, start: int) -> int:
    """Index just past the brace that closes the group opened before ``start``."""
    depth, i = 1, start
    while depth:
        if i >= len(text):
            raise AssertionError(f"unbalanced braces after {text[start - 20:start]!r}")
        c = text[i]
        if c == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        i += 1
    return i


def parse_bibtex(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """Parse the BibTeX written by :func:`spikegrad._references.bibtex` strictly:
    ``@type{key,`` then ``  name = {value}`` fields separated by ``,\\n``, then ``}``.

    Raises
    ------
    AssertionError
        On any departure from that form (unbalanced braces, a missing comma, text
        between entries).
    """
    entries: list[tuple[str, str, dict[str, str]]] = []
    pos = 0
    while pos < len(text):
        header = _HEADER.match(text, pos)
        assert header, f"no '@type{{key,' at {text[pos:pos + 40]!r}"
        kind, key = header.groups()
        pos = header.end()
        fields: dict[str, str] = {}
        while True:
            field = _FIELD.match(text, pos)
            assert field, f"{key}: no 'name = {{' at {text[pos:pos + 40]!r}"
            end = _braced(text, field.end())
            name = field.group(1).lower()
            assert name not in fields, f"{key}: field {name} twice"
            fields[name] = text[field.end():end - 1]
            pos = end
            if text.startswith(",\n", pos):
                pos += 2
                continue
            assert text.startswith("\n}", pos), f"{key}: entry not closed at {pos}"
            pos += 2
            break
        entries.append((kind, key, fields))
        if pos < len(text):
            assert text.startswith("\n\n", pos), f"text between entries at {pos}"
            pos += 2
    return entries


def _check_entry(kind: str, key: str, fields: dict[str, str]) -> None:
    assert kind in REQUIRED, f"{key}: unexpected entry type @{kind}"
    missing = REQUIRED[kind] - fields.keys()
    assert not missing, f"@{kind}{{{key}}} lacks {sorted(missing)}"
    if kind in ("software", "misc"):
        assert LOCATORS & fields.keys(), f"@{kind}{{{key}}} has no version, url or doi"
    assert all(v.strip() for v in fields.values()), f"{key}: an empty field"
    assert re.fullmatch(r"\d{4}", fields["year"]), f"{key}: year {fields['year']!r}"


# -- every entry is citable ----------------------------------------------------------------
def test_every_entry_has_a_reference_and_well_formed_bibtex() -> None:
    for name in BUILT_IN:
        b = spikegrad.get(name)
        keys = b.entry.references
        assert keys, f"{name} has no reference"
        assert all(k in REFERENCES for k in keys), f"{name}: unknown keys {keys}"
        assert b.references and all(b.references), name
        entries = parse_bibtex(b.cite())
        assert [key for _, key, _ in entries] == list(keys), name
        for entry in entries:
            _check_entry(*entry)
    for name in spikegrad.multistep_names():
        assert spikegrad.get(name).cite().startswith("@inproceedings{Meng2022,"), name
    for key in REFERENCES:
        ((kind, parsed, fields),) = parse_bibtex(bibtex((key,)))
        assert parsed == key
        _check_entry(kind, key, fields)
        assert cite((key, "free text, not a key")) == bibtex((key,))
    used = {k for name in BUILT_IN for k in spikegrad.entry(name).references}
    assert set(REFERENCES) <= used, sorted(set(REFERENCES) - used)


def test_cite_tanh_is_not_none_published(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cite", "tanh"]) == 0
    out, err = capsys.readouterr()
    assert "no published reference" not in err
    ((kind, key, fields),) = parse_bibtex(out.strip())
    assert (kind, key) == ("software", "Norse2021")
    assert fields["doi"] == "10.5281/zenodo.4422025" and fields["version"] == "0.0.7"
    assert main(["show", "tanh"]) == 0
    out = capsys.readouterr().out
    assert "(none published)" not in out and "Pehle" in out


@pytest.mark.parametrize(("name", "key"), [
    ("squarewave_fourier_series", "Fang2023"), ("fake_numerical_gradient", "Fang2023"),
    ("heaviside_window", "Sinabs2020"), ("sign_triangular", "Eshraghian2023"),
    ("heavi_circ", "Norse2021"), ("multi_level_spike_count", "Luo2024"),
    ("poisson_pass", "Tang2020"),
])
def test_each_entry_cites_where_it_comes_from(name: str, key: str) -> None:
    assert f"{{{key}," in spikegrad.get(name).cite()


def test_library_papers_carry_their_doi() -> None:
    assert "doi = {10.1126/sciadv.adi1480}" in bibtex(("Fang2023",))
    assert "doi = {10.1109/JPROC.2023.3308088}" in bibtex(("Eshraghian2023",))


# -- Unicode text, valid BibTeX --------------------------------------------------------------
def test_texts_have_no_tex_markup() -> None:
    for key in REFERENCES:
        (text,) = texts((key,))
        assert not set(text) & set("\\{}"), text
        assert "--" not in text and " and " not in text.split('"')[0], text
    for name in BUILT_IN:
        for text in spikegrad.get(name).references:
            assert not set(text) & set("\\{}"), (name, text)


def test_show_prints_unicode_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "atan"]) == 0
    out = capsys.readouterr().out
    assert "Timothée Masquelier" in out and "Timoth{" not in out and "\\'" not in out
    assert main(["show", "gaussian"]) == 0
    out = capsys.readouterr().out
    assert "Sander M. Bohté" in out and "\\'" not in out
    assert main(["show", "straight_through"]) == 0
    assert "Nicholas Léonard" in capsys.readouterr().out


def test_cite_keeps_the_bibtex_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cite", "fake_numerical_gradient"]) == 0
    out = capsys.readouterr().out
    assert "Timoth{\\'e}e Masquelier" in out and "Timothée" not in out
    assert "@article{Fang2023," in out and "pages = {eadi1480}" in out


def test_texts_read_like_a_citation() -> None:
    (text,) = texts(("Fang2021",))
    assert text.startswith("Wei Fang, Zhaofei Yu, Yanqi Chen, Timothée Masquelier, Tiejun "
                           "Huang, Yonghong Tian, \"Incorporating")
    assert text.endswith("(2021)")
    (text,) = texts(("Esser2016",))
    assert text.startswith("Steven K. Esser et al., ")
    (text,) = texts(("Norse2021",))
    assert "version 0.0.7" in text and text.endswith("(2021)")


def test_unknown_reference_text_is_converted_too() -> None:
    assert texts(("M{\\\"u}ller 2020",)) == ("Müller 2020",)


@pytest.mark.parametrize(("tex", "text"), [
    ("Timoth{\\'e}e", "Timothée"),
    ("Timoth\\'{e}e", "Timothée"),
    ("Timoth\\'ee", "Timothée"),
    ("Boht{\\'e}", "Bohté"),
    ("Sch{\\\"o}lkopf", "Schölkopf"),
    ("Schr\\\"odinger", "Schrödinger"),
    ("Gau{\\ss}", "Gauß"),
    ("Gau\\ss{}", "Gauß"),
    ("Wo{\\'z}niak", "Woźniak"),
    ("{\\v{C}}ech", "Čech"),
    ("\\v Cech", "Čech"),
    ("Erd{\\H{o}}s", "Erdős"),
    ("Fran{\\c{c}}ois", "François"),
    ("Fran\\c cois", "François"),
    ("{\\L}ukasz", "Łukasz"),
    ("Bj{\\o}rn", "Bjørn"),
    ("{\\AA}ngstr{\\\"o}m", "Ångström"),
    ("{\\ae}sir", "æsir"),
    ("Ji{\\v{r}}{\\'\\i}", "Jiří"),
    ("\\^{\\i}le", "île"),
    ("\\~na", "ña"),
    ("\\=a\\.z\\u{g}\\r{u}\\k{a}\\d{s}", "āżğůąṣ"),
    ("11441--11446", "11441–11446"),
    ("a---b", "a—b"),
    ("R\\&D 10\\% \\$5 \\#1 a\\_b", "R&D 10% $5 #1 a_b"),
    ("{SpikingJelly}: {An} open-source", "SpikingJelly: An open-source"),
    ("``quoted''", "“quoted”"),
    ("x~y", "x y"),
    ("\\emph{Spiking} neurons", "Spiking neurons"),
    ("\\{braces\\}", "{braces}"),
    ("plain text", "plain text"),
])
def test_latex_to_unicode(tex: str, text: str) -> None:
    assert refs.latex_to_unicode(tex) == text


def test_bibtex_and_texts_agree_on_content() -> None:
    for key, ref in REFERENCES.items():
        (text,) = texts((key,))
        assert refs.latex_to_unicode(ref["title"]) in text, key
        assert str(ref["year"]) in text, key
