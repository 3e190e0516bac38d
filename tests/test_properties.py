"""Property-based tests: decoding and cleaning take anything without raising, cleaning is
idempotent, and a cleaned body only holds text that was in the input."""
from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from transforms.clean import clean_page
from transforms.read import ReadLimits, RejectError, page_from_bytes

LIMITS = ReadLimits()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ARTICLE_LINES = [
    "The council voted on Tuesday to extend the opening hours of the public libraries.",
    "Officials said the new schedule would start in March and cost less than expected.",
    "Residents had campaigned for the change for more than three years, the mayor said.",
    "La alcaldesa afirmó que la medida beneficiará a miles de estudiantes de la ciudad.",
    "Die Stadt will außerdem zwei neue Lesesäle in den Außenbezirken eröffnen.",
    "“We listened to the people who use these buildings every day,” she told reporters.",
]
CHROME_LINES = ["Share", "Related Articles", "Back to top", "Accept all cookies", "Sign in",
                "Leave a Comment", "Monday, October 7, 2024", "By Jane Doe", "Keep reading:",
                "• Five things to know today", "csr/mcd", "© 2026 The Daily Example", "Avatar of Jane Doe"]
pages = st.lists(st.sampled_from(ARTICLE_LINES + CHROME_LINES) | st.text(max_size=120), max_size=40).map("\n\n".join)
# Pages as they come: an article's lines with chrome around and between them.
article_pages = st.tuples(
    st.lists(st.sampled_from(CHROME_LINES), max_size=8),
    st.lists(st.sampled_from(ARTICLE_LINES), min_size=1, max_size=12),
    st.lists(st.sampled_from(CHROME_LINES), max_size=8),
).map(lambda parts: "\n\n".join(parts[0] + parts[1] + parts[2]))


@SETTINGS
@given(st.binary(max_size=5000))
def test_reading_any_bytes_gives_a_page_or_a_reject(data):
    for name in ("page.txt", "page.html", "page.txt.gz"):
        try:
            page = page_from_bytes(name, data, LIMITS)
        except RejectError as exc:
            assert exc.reason and exc.detail
        else:
            assert page.content.strip() and "\x00" not in page.content and "\r" not in page.content


@SETTINGS
@given(st.text(max_size=3000), st.sampled_from(["text", "html"]))
def test_cleaning_any_text_never_raises(text, fmt):
    result = clean_page(text, fmt)
    assert isinstance(result.text, str)


@SETTINGS
@given(article_pages | pages)
def test_text_cleaning_is_idempotent(text):
    once = clean_page(text, "text")
    twice = clean_page(once.text, "text")
    assert twice.text == once.text


@SETTINGS
@given(pages)
def test_every_cleaned_line_comes_from_the_input(text):
    source_lines = [line.strip() for line in text.splitlines()]
    for line in clean_page(text, "text").text.split("\n"):
        if line.strip():
            assert any(line.strip() in source for source in source_lines), line


@SETTINGS
@given(st.text(max_size=2000))
def test_valid_utf8_text_without_mojibake_pairs_decodes_unchanged(text):
    from transforms.read import decode_bytes

    import unicodedata

    if (not text.strip() or any(ch in text for ch in "ÃÂâ€\ufffd")
            or any(unicodedata.category(c).startswith("C") and c not in "\n\t" for c in text)):
        return  # empty, mojibake look-alikes, or control characters: other tests cover those
    decoded, encoding = decode_bytes(text.encode("utf-8"))
    assert (decoded, encoding) == (text, "utf-8")


def test_a_lone_look_alike_pair_is_not_repaired():
    from transforms.read import repair_mojibake

    assert repair_mojibake("Quoted ”É here.") == ("Quoted ”É here.", False)
    assert repair_mojibake("Die BÃ¤ckerei Ã¶ffnet am MarktplatzstraÃŸe.")[1]


# the pair's two sides, their neighbours (U+00C1, U+00F5, U+00C0-U+00FF outside the leads),
# quotes and dashes of cp1252, other scripts, ASCII and lone surrogates
_MOJIBAKE_ALPHABET = ("\u00c1\u00c2\u00c3\u00e9\u00f4\u00f5\u00ff\u007f\u0080\u009d\u00bf\u00c0"
                      "\u2019\u201c\u2014\u20ac\u0192\u0178\u0161\u2018\u017e\u4e2d\U0001f600\ud800\udfffab ")


@SETTINGS
@given(st.text(alphabet=_MOJIBAKE_ALPHABET, max_size=60), st.integers(1, 5))
def test_mojibake_pairs_are_counted_on_the_bytes_as_on_the_characters(text, at_most):
    from itertools import islice

    from transforms.read import _MOJIBAKE_PAIR, mojibake_pairs

    assert mojibake_pairs(text, at_most) == sum(1 for _ in islice(_MOJIBAKE_PAIR.finditer(text), at_most))


@SETTINGS
@given(st.lists(st.text(alphabet="ab \r", max_size=14), max_size=6).map("\n".join), st.integers(1, 12))
def test_a_page_is_rejected_for_its_line_length_exactly_when_a_line_is_over_the_limit(text, limit):
    from transforms.read import check_shape

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    try:
        check_shape("\n".join(lines), ReadLimits(max_line_chars=limit))
    except RejectError as exc:
        assert exc.reason == "too_large" and max(map(len, lines)) > limit
    else:
        assert max(map(len, lines)) <= limit


def test_line_breaks_are_normalised_before_the_line_limit_is_checked():
    limits = ReadLimits(max_line_chars=10)
    # 32 characters in all, no line over 10 once CRLF and CR are line breaks
    page = page_from_bytes("page.txt", b"0123456789\r\n0123456789\r0123456789", limits)
    assert page.content == "0123456789\n0123456789\n0123456789"
    try:
        page_from_bytes("page.txt", b"0123456789\r\n0123456789X", limits)
    except RejectError as exc:
        assert exc.reason == "too_large" and "11 characters" in exc.detail
    else:
        raise AssertionError("an 11-character line passed a 10-character limit")


def test_a_declared_charset_decodes_a_page_that_is_not_utf8():
    from transforms.read import decode_bytes

    story = "Правительство объявило в среду о новых мерах по борьбе с миграцией через границу."
    page = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">' \
           f"</head><body><p>{story}</p></body></html>"
    assert decode_bytes(page.encode("cp1251")) == (page, "cp1251")
    japanese = f"<html><head><meta charset='shift_jis'></head><body><p>政府は水曜日に新しい措置を発表した。</p></body></html>"
    assert decode_bytes(japanese.encode("shift_jis")) == (japanese, "shift_jis")
    # UTF-8 bytes stay UTF-8 whatever the page declares
    assert decode_bytes(page.encode("utf-8")) == (page, "utf-8")
    # without the declaration, detection takes 0xA4 for cp1252's currency sign, not the euro
    euro = '<html><head><meta charset="iso-8859-15"></head><body><p>Prix : 12 € le kilo.</p></body></html>'
    assert decode_bytes(euro.encode("iso-8859-15")) == (euro, "iso8859-15")


@SETTINGS
@given(st.text(alphabet=_MOJIBAKE_ALPHABET.replace("\ud800\udfff", "") + "\r\n\x00", max_size=120),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
# pairs that removing NUL bytes makes (few enough NULs not to look binary)
@example(text="Die B\u00c3\x00\u00a4ckerei \u00c3\x00\u00b6ffnet am Marktplatzstra\u00c3\x00\u0178e, "
              "wie jeden Morgen seit vielen Jahren, um sechs Uhr.", encoding="utf-8")
def test_the_read_stage_repairs_mojibake_as_the_text_alone_says(text, encoding):
    from transforms.read import ReadLimits, RejectError, page_from_bytes, repair_mojibake

    try:
        page = page_from_bytes("page.txt", text.encode(encoding), ReadLimits())
    except RejectError:
        return  # empty or binary: other tests cover those
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    assert page.content == repair_mojibake(normalised)[0]


def test_the_content_hash_collapses_exactly_the_white_space_a_regular_expression_would():
    import re
    import sys

    from transforms.dedup import normalize_for_hash

    spaces = [chr(code) for code in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(code))]
    assert spaces == [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    for space in spaces:
        for text in (f"{space}a{space}{space}B{space}", f"x{space}", space * 3, f"\u200bq{space}\ufeffr"):
            assert normalize_for_hash(text) == re.sub(r"\s+", " ", text.casefold()).strip()
