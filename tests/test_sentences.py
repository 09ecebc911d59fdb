"""The sentence splitter on hand-made cases, the seeds and the realworld corpus."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from pipeline.sentences import ABBREVIATIONS, split_paragraphs, split_sentences

DATA = Path(__file__).resolve().parent / "data"
SEED_004 = DATA / "seeds" / "004_61c0a642c7b66a9a.txt"
CORPUS = DATA / "realworld" / "html"
NUMBER = re.compile(r"\d+(?:[.,]\d+)+")  # 193,48  300.000  3.5  1.234.567,89
CJK_END = re.compile(r"[。！？；][”」』’\"'）)》〉]*$")



def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------- cases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Il PIL è di 193,48 miliardi. Cresce del 38,8% annuo.",
         ["Il PIL è di 193,48 miliardi.", "Cresce del 38,8% annuo."]),
        ("Produrrà 300.000 veicoli. Lo ha detto Lei Jun.",
         ["Produrrà 300.000 veicoli.", "Lo ha detto Lei Jun."]),
        ("The rate rose to 3.5 percent. It fell again.",
         ["The rate rose to 3.5 percent.", "It fell again."]),
        ("Il Sig. Rossi e il Dott. Bianchi lavorano per Fiat S.p.A. Da anni.",
         ["Il Sig. Rossi e il Dott. Bianchi lavorano per Fiat S.p.A. Da anni."]),
        ("L'Ing. Verdi ha firmato. Auto, moto ecc. Sono tutte qui.",
         ["L'Ing. Verdi ha firmato.", "Auto, moto ecc. Sono tutte qui."]),
        ("Mr. Smith met Dr. Jones in the U.S. Capitol. They talked.",
         ["Mr. Smith met Dr. Jones in the U.S. Capitol.", "They talked."]),
        ("Cars, e.g. EVs, etc. Are selling. J. Smith agrees.",
         ["Cars, e.g. EVs, etc. Are selling.", "J. Smith agrees."]),
        ("Vedi n. 5 e p. 12 del documento. Fine.",
         ["Vedi n. 5 e p. 12 del documento.", "Fine."]),
        ("Costa ca. 40 euro. Bene.", ["Costa ca. 40 euro.", "Bene."]),
        ("Vedi art. 5 del codice. Poi l'art. Sulla stampa.",
         ["Vedi art. 5 del codice.", "Poi l'art.", "Sulla stampa."]),
        ('Ha detto: "Andremo avanti." Poi è uscito.',
         ['Ha detto: "Andremo avanti."', "Poi è uscito."]),
        ("Davvero? Sì! Nel 2024. 15 persone... Forse.",
         ["Davvero?", "Sì!", "Nel 2024.", "15 persone...", "Forse."]),
        ("Visit www.example.com for more. ok then", ["Visit www.example.com for more. ok then"]),
        ("Riga uno senza punto\nRiga due. Frase tre.",
         ["Riga uno senza punto", "Riga due.", "Frase tre."]),
    ],
)
def test_alphabetic_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text, "it") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("小米汽车宣布：“我们将建厂。”随后，北汽表示同意！",
         ["小米汽车宣布：“我们将建厂。”", "随后，北汽表示同意！"]),
        ("产能是多少？答案；见下文", ["产能是多少？", "答案；", "见下文"]),
        ("他说「好的。」然后走了。", ["他说「好的。」", "然后走了。"]),
        ("第一行没有标点\n第二行。第三句！", ["第一行没有标点", "第二行。", "第三句！"]),
        ("年产能30.5万辆，增长3.5%。小米SU7售价21.59万元。",
         ["年产能30.5万辆，增长3.5%。", "小米SU7售价21.59万元。"]),
    ],
)
def test_chinese_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text, "zh") == expected
    assert split_sentences(text, "zh-cn") == expected


def test_paragraphs_are_non_empty_lines() -> None:
    assert split_paragraphs("  uno \n\n\n due\r\ntre  \n") == ["uno", "due", "tre"]


# ---------------------------------------------------------------------------- seeds


def test_seed_004_numbers_intact() -> None:
    text = SEED_004.read_text("utf-8")
    sentences = split_sentences(text, "it")
    assert len(sentences) == 14
    for number in ("193,48", "300.000", "30,26", "424,36", "38,8%"):
        assert sum(number in s for s in sentences) == 1, number
    assert all(s[-1] in ".!?”)" for s in sentences)
    assert squash(" ".join(sentences)) == squash(text)


@pytest.mark.parametrize("seed", sorted((DATA / "seeds").glob("*.txt")),
                         ids=lambda p: p.name[:3])
def test_english_seeds_are_lossless_and_numbers_intact(seed: Path) -> None:
    text = seed.read_text("utf-8")
    sentences = split_sentences(text, "en")
    assert squash(" ".join(sentences)) == squash(text)
    _assert_numbers_intact(text, sentences)


# --------------------------------------------------------------- realworld corpus


def _extract(path: Path) -> str:
    import trafilatura

    return trafilatura.extract(path.read_bytes(), include_comments=False) or ""


def _articles(lang: str) -> list[Path]:
    return sorted(p for p in (CORPUS / lang).glob("*.html") if not p.name.startswith("list-"))


def _assert_numbers_intact(text: str, sentences: list[str]) -> None:
    for line in split_paragraphs(text):
        for number in NUMBER.findall(line):
            assert any(number in s for s in sentences), f"{number!r} was cut apart"


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[tuple[str, str]]]:
    return {lang: [(p.name, _extract(p)) for p in _articles(lang)] for lang in ("it", "zh")}


def test_realworld_italian(extracted: dict[str, list[tuple[str, str]]]) -> None:
    total = 0
    for name, text in extracted["it"]:
        if not text:
            continue
        sentences = split_sentences(text, "it")
        total += len(sentences)
        assert squash(" ".join(sentences)) == squash(text), name
        _assert_numbers_intact(text, sentences)
        for line in split_paragraphs(text):
            in_line = split_sentences(line, "it")
            for first, second in itertools.pairwise(in_line):
                last_word = first.rsplit(None, 1)[-1].rstrip(".").lower()
                assert not (first.endswith(".") and last_word in ABBREVIATIONS), (name, first)
                assert not second[0].islower(), (name, first, second)
    assert total >= 50


def test_realworld_chinese(extracted: dict[str, list[tuple[str, str]]]) -> None:
    total = 0
    for name, text in extracted["zh"]:
        if not text:
            continue
        sentences = split_sentences(text, "zh")
        total += len(sentences)
        assert squash("".join(sentences)).replace(" ", "") == squash(text).replace(" ", ""), name
        _assert_numbers_intact(text, sentences)
        for line in split_paragraphs(text):
            in_line = split_sentences(line, "zh")
            # every sentence ends with 。！？； (and its closing quotes) or ends the line
            assert all(CJK_END.search(s) for s in in_line[:-1]), (name, in_line)
    assert total >= 300


def test_realworld_english_abbreviations_do_not_split() -> None:
    text = (DATA / "realworld/expected/ctpost-la-auto-show-evs-2019.txt").read_text()
    sentences = split_sentences(text, "en")
    assert "U.S." in text
    assert not any(s.endswith("U.S.") for s in sentences)
    _assert_numbers_intact(text, sentences)
