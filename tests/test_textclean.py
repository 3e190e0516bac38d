"""Behaviour of the plain-text cleaner: seed must-drops/must-keeps, metadata, invariants."""
from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from transforms.cleanfeatures import (
    FEATURE_NAMES, analyse_lines, byline_name, is_date_line, line_features, parse_date,
    word_units)
from transforms.textclean import clean_text, split_lines

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cleaned():
    return {prefix: clean_text(seed(prefix)) for prefix in ("000", "001", "002", "003", "004")}


def removed_reasons(result) -> dict[str, str]:
    return {r.text: r.reason for r in result.removed}


@pytest.mark.parametrize("prefix, line, reason", [
    ("000", "Politics", "chrome_short"),
    ("000", "csr/mcd", "editor_slug"),
    ("000", "Related Articles", "chrome_phrase"),
    ("000", "Back to top button", "chrome_phrase"),
    ("001", "X", "chrome_short"),
    ("002", "Leave a Comment", "chrome_phrase"),
    ("002", "Your email address will not be published. Required fields are marked *", "chrome_phrase"),
    ("002", "Scroll to Top", "chrome_phrase"),
    ("003", "Monday, October 7", "date"),
    ("003", "Avatar of Andrea Espinoza", "image_label"),
    ("003", "Keep reading:", "chrome_phrase"),
    ("003", "By Andrea Espinoza", "byline"),
    ("004", "(JO)", "editor_slug"),
])
def test_seed_must_drop_with_reason(cleaned, prefix, line, reason):
    result = cleaned[prefix]
    assert removed_reasons(result).get(line) == reason
    assert all(line != p for p in result.paragraphs)


def test_turkish_cookie_banner_dropped_as_cookie_notice(cleaned):
    result = cleaned["001"]
    cookie_lines = [line for line in split_lines(seed("001")) if "erez" in line or "sitemizin" in line]
    assert len(cookie_lines) == 4
    reasons = removed_reasons(result)
    assert all(reasons.get(line) == "cookie_notice" for line in cookie_lines)


def test_keep_reading_link_dropped(cleaned):
    reasons = removed_reasons(cleaned["003"])
    bullet = next(line for line in split_lines(seed("003")) if line.startswith("•"))
    assert reasons.get(bullet) in {"link_list", "chrome_phrase"}


def test_author_bio_dropped_and_slug_stripped(cleaned):
    result = cleaned["004"]
    assert any(r.reason == "author_bio" and r.text.startswith("Mabel is") for r in result.removed)
    assert not any(p.startswith("Mabel is") for p in result.paragraphs)
    assert any(p.endswith("go to the north of the country.") for p in result.paragraphs)
    assert not any("(JO)" in p for p in result.paragraphs)


def test_subheadings_kept(cleaned):
    assert "Exodus from poverty" in cleaned["004"].paragraphs
    assert "Immigration record" in cleaned["004"].paragraphs


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_article_paragraphs_kept(cleaned, prefix):
    """Every line that reads as article prose (long, ends a sentence) stays in the body."""
    result = cleaned[prefix]
    body = set(result.paragraphs)
    for line in split_lines(seed(prefix)):
        prose = len(line.split()) >= 12 and line.rstrip().endswith((".", '"', "”", ")"))
        chrome = line.startswith(("Mabel is", "Your email", "Sitelerimizde", "Bu çerez",
                                  "İnternet sitemizin"))
        if prose and not chrome:
            assert line in body or line.removesuffix(" (JO)") in body, line


def test_title_author_date(cleaned):
    assert cleaned["000"].title == "Lopez Obrador and Blinken meet in Mexico to discuss migration"
    result = cleaned["003"]
    assert result.title == "La Opinion Today: Biden and AMLO will negotiate new immigration measures"
    assert result.author == "Andrea Espinoza"
    assert result.published == datetime.date(2023, 12, 27)
    for r in cleaned.values():
        assert r.title not in r.paragraphs


def test_idempotent_on_seeds(cleaned):
    for result in cleaned.values():
        again = clean_text(result.text)
        assert again.paragraphs == result.paragraphs


def test_body_lines_come_from_input(cleaned):
    for prefix, result in cleaned.items():
        source = seed(prefix)
        assert all(p in source for p in result.paragraphs)


@pytest.mark.parametrize("text", ["", "\x00", "\n\n\n", "   ", "a", "\ufeff\u200b", "<<>>" * 50,
                                  "日本語のテキストです。" * 30, "x\n" * 5])
def test_odd_input_never_raises(text):
    result = clean_text(text)
    assert isinstance(result.paragraphs, tuple)


def test_a_page_past_the_model_line_limit_is_scored_by_rule_and_loses_no_line(monkeypatch):
    import transforms.textclean

    def no_model(*_args):
        raise AssertionError("the tree model ran on a page past MAX_LINES_FOR_MODEL")

    monkeypatch.setattr(transforms.textclean, "model_probabilities", no_model)
    n = transforms.textclean.MAX_LINES_FOR_MODEL + 1
    result = clean_text("\n".join(f"menu entry {i}" for i in range(n)))
    assert len(result.paragraphs) + len(result.removed) == n


def test_foreign_language_line_flagged():
    """Another language's stop words mark a line foreign (a model feature, and the reason
    reported when the model drops it); the page's own language and names do not."""
    article = [
        "The council said on Monday that the new bridge would be finished before the end of the "
        f"year, and that traffic in the centre of the town would be lighter as a result {i}."
        for i in range(6)]
    foreign = ("Wir verwenden auf dieser Seite und mit unseren Partnern die Daten, die wir von "
               "Ihnen haben, und das ist nicht immer so, wie es sein sollte.")
    infos, _ = analyse_lines(article + [foreign, "Mexico, U.S. hold emergency meeting on migration"])
    assert [info.foreign for info in infos] == [False] * 6 + [True, False]


# ----------------------------------------------------------------------------- features
def test_feature_vector_shape_and_values():
    infos, language = analyse_lines(["Facebook", "The cat sat on the mat and it was very happy about it.",
                                     "* Share on Facebook"])
    rows = line_features(infos)
    assert len(rows) == 3 and all(len(r) == len(FEATURE_NAMES) for r in rows)
    named = [dict(zip(FEATURE_NAMES, r)) for r in rows]
    assert named[1]["terminal"] == 1.0 and named[0]["terminal"] == 0.0
    assert named[2]["bullet"] == 1.0 and named[2]["chrome_hits"] >= 1
    assert named[1]["stop_share_page"] > named[0]["stop_share_page"]
    assert language >= 0


def test_date_and_byline_shapes():
    assert parse_date("Dec 27, 2023, 17:39 PM EST") == datetime.date(2023, 12, 27)
    assert parse_date("27 de diciembre de 2023") == datetime.date(2023, 12, 27)
    assert parse_date("2023-12-27T10:00") == datetime.date(2023, 12, 27)
    assert parse_date("no date here") is None
    assert is_date_line("Monday, October 7")
    assert is_date_line("2 days ago at 07:47 am")
    assert not is_date_line("On October 7 the army crossed the river and took the town.")
    assert byline_name("By Andrea Espinoza") == "Andrea Espinoza"
    assert byline_name("By the river we sat down and wept.") is None


def test_cjk_lengths_count_characters():
    assert word_units("これは日本語の長い文章です", ["これは日本語の長い文章です"]) >= 5
    assert word_units("plain words here", ["plain", "words", "here"]) == 3


def test_vectorised_trees_give_the_reference_walks_probabilities():
    import random

    from transforms.textclean import load_model, model_probabilities, model_probability

    model = load_model()
    if model is None:
        pytest.skip("no shipped line model")
    rng = random.Random(5)
    width = len(model["feature_names"])
    rows = [[rng.choice((0.0, 1.0, rng.uniform(-5, 200))) for _ in range(width)] for _ in range(40)]
    assert model_probabilities(model["stage1"], rows) == [model_probability(model["stage1"], r) for r in rows]
    assert model_probabilities(model["stage1"], []) == []


def _rows_for(stage: dict, width: int, count: int, rng) -> list[list[float]]:
    """Rows whose values sit on the stage's thresholds, next to them, or are special floats."""
    import math

    thresholds = [t for tree in stage["trees"] for t in tree["threshold"]]
    specials = (float("inf"), -float("inf"), float("nan"), 0.0, -0.0)
    rows = []
    for _ in range(count):
        row = []
        for _ in range(width):
            pick = rng.random()
            if pick < 0.5:
                row.append(rng.choice(thresholds))
            elif pick < 0.75:
                row.append(math.nextafter(rng.choice(thresholds), rng.choice((-math.inf, math.inf))))
            else:
                row.append(rng.choice(specials))
        rows.append(row)
    return rows


def test_compiled_trees_match_the_walk_at_thresholds_non_finite_values_and_any_line_count():
    """The leaf-mask scoring must pick the walk's leaf exactly: a value equal to a threshold
    goes left, inf right, -inf left, NaN right (every `x <= t` test fails), in both stages; and
    add the leaves in the walk's order whatever the number of lines, one line (a one-line page)
    and 2,049 (a last block of one line) included: NumPy's sums change their order with the
    shape of what they sum."""
    import random

    from transforms.textclean import ROWS_PER_BLOCK, load_model, model_probabilities, model_probability

    model = load_model()
    if model is None:
        pytest.skip("no shipped line model")
    rng = random.Random(7)
    for stage, width in (("stage1", len(model["feature_names"])),
                         ("stage2", len(model["feature_names"]) + len(model["context_feature_names"]))):
        rows = _rows_for(model[stage], width, ROWS_PER_BLOCK + 1, rng)
        expected = [model_probability(model[stage], row) for row in rows]
        for count in (1, 2, 3, 300, ROWS_PER_BLOCK + 1):
            assert model_probabilities(model[stage], rows[:count]) == expected[:count], (stage, count)


def _random_tree(rng, n_leaves: int, width: int, thresholds_of) -> dict:
    """A tree grown by splitting random leaves until it has n_leaves, in the exported format."""
    tree = {"feature": [0], "threshold": [0.0], "left": [-1], "right": [-1], "value": [rng.uniform(-1, 1)]}
    leaves = [0]
    while len(leaves) < n_leaves:
        node = leaves.pop(rng.randrange(len(leaves)))
        f = rng.randrange(width)
        tree["feature"][node], tree["threshold"][node] = f, rng.choice(thresholds_of[f])
        tree["left"][node], tree["right"][node] = len(tree["value"]), len(tree["value"]) + 1
        for _ in range(2):  # the split node's two new leaves
            leaves.append(len(tree["value"]))
            leaf = {"feature": 0, "threshold": 0.0, "left": -1, "right": -1, "value": rng.uniform(-1, 1)}
            for key, field in leaf.items():
                tree[key].append(field)
    return tree


def test_compiled_trees_match_the_walk_on_wide_trees_and_a_feature_of_many_thresholds():
    """Paths the shipped model does not take: trees of more than 32 leaves (64-bit leaf masks),
    a feature with more distinct thresholds than a combined table may hold, and enough flags
    to fill more than one combined table."""
    import random

    from transforms.textclean import COMBINED_LOOKUP_MAX_ROWS, model_probabilities, model_probability

    rng = random.Random(3)
    width = 16
    thresholds_of = {f: [0.5] for f in range(12)}  # flags
    thresholds_of[12] = [float(t) for t in range(COMBINED_LOOKUP_MAX_ROWS + 500)]
    thresholds_of[13] = [rng.uniform(-3, 3) for _ in range(40)]
    thresholds_of[14] = [1.0, 2.0, 3.0]
    thresholds_of[15] = [rng.uniform(0, 1) for _ in range(9)]
    trees = [_random_tree(rng, rng.randint(2, 60), width, thresholds_of) for _ in range(400)]
    stage = {"init": 0.25, "trees": trees}
    assert max(tree["left"].count(-1) for tree in trees) > 32  # 64-bit leaf masks
    for count in (1, 7, 300):
        rows = _rows_for(stage, width, count, rng)
        assert model_probabilities(stage, rows) == [model_probability(stage, row) for row in rows], count


def test_compiled_trees_match_the_walk_when_trees_are_single_leaves():
    """A stage whose trees never split has no feature lookups at all; one with a single split
    among them has exactly one."""
    import random

    from transforms.textclean import model_probabilities, model_probability

    rng = random.Random(5)
    width = 4
    thresholds_of = {f: [0.0, 0.5] for f in range(width)}
    single_leaves = [_random_tree(rng, 1, width, thresholds_of) for _ in range(5)]
    one_split = single_leaves + [_random_tree(rng, 2, width, thresholds_of)]
    for trees in (single_leaves, one_split):
        stage = {"init": -0.125, "trees": trees}
        rows = _rows_for(stage, width, 9, rng)
        assert model_probabilities(stage, rows) == [model_probability(stage, row) for row in rows]


def test_ascii_twin_refuses_patterns_whose_lower_cased_search_would_differ():
    import re

    from transforms.cleanfeatures import DATE_WORD_RE, ascii_twin

    with pytest.raises(ValueError):
        ascii_twin(DATE_WORD_RE)  # Turkish "ı" matches ASCII "i" under re.IGNORECASE
    with pytest.raises(ValueError):
        ascii_twin(re.compile(r"Share", re.I))
    with pytest.raises(ValueError):
        ascii_twin(re.compile(r"\u017fhare", re.I))  # an escaped "ſ"
    with pytest.raises(ValueError):
        ascii_twin(re.compile(r"share"))


@pytest.mark.parametrize("text", [
    "SHARE this story", "Sign In", "ſhare", "İ accept all cookies", "Kookies", "“Share” — now",
    "版权所有 © 2020 · Copyright", "Подписаться на рассылку", "PARTAGER • lire aussi",
    "Your email address will not be published.", "ΣΊΣΥΦΟΣ cookies", "Straße teilen",
    "Tweet\u00a0Share\u2009Email", "ｓｈａｒｅ ＳＨＡＲＥ", "no chrome words at all",
])
def test_caseless_searches_agree_with_ignorecase(text):
    from transforms import cleanfeatures as cf
    from transforms import textclean as tc

    folded = cf.fold(text)
    for pattern, twin in ((cf.CHROME_WORDS_RE, cf._CHROME_WORDS_ASCII), (cf.COOKIE_RE, cf._COOKIE_ASCII),
                          (cf.CONSENT_RE, cf._CONSENT_ASCII), (cf.COPYRIGHT_RE, cf._COPYRIGHT_ASCII),
                          (tc.COMMENT_FORM_RE, tc._COMMENT_FORM_ASCII)):
        assert cf.caseless_search(pattern, twin, text, folded) == bool(pattern.search(text))
        if folded is not None:
            assert len(twin.findall(folded)) == len(pattern.findall(text))


def _dispatched_pairs():
    from transforms import cleanfeatures as cf

    return ((cf.CHROME_WORDS_RE, cf._CHROME_WORDS_FAST), (cf.COOKIE_RE, cf._COOKIE_FAST),
            (cf.CONSENT_RE, cf._CONSENT_FAST), (cf.COPYRIGHT_RE, cf._COPYRIGHT_FAST),
            (cf.DATE_WORD_RE, cf._DATE_WORD_FAST), (cf.DATE_FILLER_RE, cf._DATE_FILLER_FAST))


def test_patterns_grouped_by_first_character_find_the_same_matches():
    import re

    from transforms.cleanfeatures import _top_level_branches

    texts = [line for name in ("000", "001", "002", "003", "004") for line in split_lines(seed(name))]
    texts += ["İ ACCEPT Şubat ſhare", "Kasım 2024 · MAYIS 3", "sign in, signin, sign  in"]
    # every alternative's own words, in three cases, glued to neighbours and standing alone
    for pattern, _ in _dispatched_pairs():
        body = pattern.pattern.removeprefix(r"\b(?:")
        for word in (re.sub(r"\\.|[\[\]()?:*+|]", "", branch) for branch in _top_level_branches(body)):
            texts += [word, word.upper(), word.title(), f"x{word}", f"{word}x", f"{word}s 12 {word}."]
    for pattern, grouped in _dispatched_pairs():
        for text in texts:
            assert [m.span() for m in grouped.finditer(text)] == [m.span() for m in pattern.finditer(text)], \
                (pattern.pattern[:30], text)


def test_grouping_by_first_character_keeps_the_written_order_and_refuses_what_it_cannot_keep():
    import re

    from transforms.cleanfeatures import first_char_dispatch

    # leftmost alternative first, as sre does: "ab" before "abc" within the "a" group
    assert first_char_dispatch(re.compile(r"ab|b|abc")).findall("abc b") == ["ab", "b"]
    assert first_char_dispatch(re.compile(r"\b(?:[àa] lire|al)\b\.?", re.I)).findall("À LIRE. al") == ["À LIRE.", "al"]
    # a "]" first in a class is a member: the "|" and ")" inside the class are not syntax
    for source in (r"a[^]|x]|b", r"a[]|)]|b"):
        original, grouped = re.compile(source), first_char_dispatch(re.compile(source))
        for text in ("a(", "a)", "a|", "a]", "ax", "ab b", "x]"):
            assert grouped.findall(text) == original.findall(text), (source, text)
    for bad in (re.compile(r"\b(?:ıx|iy)\b", re.I),  # "ı" matches "i": a match could move to another group
                re.compile(r"a+|b"), re.compile(r"\d|a"),
                re.compile(r"a(x)|b(y)|a(z)"),  # grouped, (z) would become group 2
                re.compile(r"[ab](?P<n>c)|d"),  # the class's branch would be copied with its group
                re.compile(r"a|b", re.X), re.compile(r"abc"), re.compile(r"\b(?:a|b)|c")):
        with pytest.raises(ValueError):
            first_char_dispatch(bad)


@pytest.mark.parametrize("text", [
    "Plain ASCII, 2024: 12 digits & symbols!", "Ünïcödé — “quotes” · bullets • 2024",
    "٢٠٢٤ Arabic-Indic and ２０２４ full-width digits", "Пример: 3 строки; № 5", "中文，标点。１２３",
    "tabs\tand\u00a0no-break\u2009thin spaces\x1c", "emoji 🙂 ⅷ ½ ²", "",
])
def test_digit_and_symbol_shares_count_every_character_by_its_unicode_class(text):
    from transforms.cleanfeatures import FEATURE_NAMES

    row = line_features(analyse_lines([text])[0])[0]
    chars = max(len(text.rstrip()), 1)
    assert row[FEATURE_NAMES.index("digit_share")] == sum(ch.isdigit() for ch in text) / chars
    assert row[FEATURE_NAMES.index("nonalnum_share")] == sum(
        not (ch.isalnum() or ch.isspace()) for ch in text) / chars


def _counted_votes(vote_ids_per_line):
    """_stop_word_votes' reference: the Counters it replaced."""
    from collections import Counter
    from itertools import chain

    page = Counter(chain.from_iterable(vote_ids_per_line))
    page_language = max(sorted(page), key=lambda k: page[k]) if page else -1
    tops, most_voted, page_hits = [], [], []
    for ids in vote_ids_per_line:
        votes = Counter(ids)
        top = max(votes.values(), default=0)
        tops.append(top)
        most_voted.append(min((lang for lang, count in votes.items() if count == top), default=-1))
        page_hits.append(votes.get(page_language, 0))
    return page_language, tops, most_voted, page_hits


@pytest.mark.parametrize("block_lines", [1, 3, 1024])
def test_stop_word_votes_count_as_counters_do_with_ties_empty_lines_and_blocks(block_lines, monkeypatch):
    from hypothesis import given, settings, strategies as st

    import transforms.cleanfeatures as features

    monkeypatch.setattr(features, "VOTE_BLOCK_LINES", block_lines)
    lines = st.lists(st.lists(st.integers(0, 6), max_size=8), max_size=12)

    @settings(max_examples=150, deadline=None)
    @given(lines)
    def check(vote_ids_per_line):
        page_language, tops, most_voted, page_hits = features._stop_word_votes(vote_ids_per_line)
        expected = _counted_votes(vote_ids_per_line)
        assert (page_language, tops, page_hits) == (expected[0], expected[1], expected[3])
        # the most-voted id only matters on lines with votes
        assert [m for m, t in zip(most_voted, tops) if t] == [m for m, t in zip(expected[2], tops) if t]

    check()
    # a tie for the page goes to the smallest id, whichever line comes first
    assert features._stop_word_votes([[5, 5], [2], [2]])[0] == 2
    assert features._stop_word_votes([[], []]) == (-1, [0, 0], [-1, -1], [0, 0])


def test_one_letter_tokens_never_vote():
    from transforms.cleanfeatures import _vote_ids

    assert _vote_ids(["u", "s", "a", "i", "o"]) == []
    assert _vote_ids(["the"]) != []


def test_later_passes_reuse_line_facts_without_changing_features():
    from transforms.textclean import LineMemo

    lines = split_lines(seed("000"))
    memo = LineMemo()
    first = line_features(analyse_lines(lines, memo=memo.facts)[0], memo=memo.own_features)
    again = line_features(analyse_lines(lines, memo=memo.facts)[0], memo=memo.own_features)
    assert first == again == line_features(analyse_lines(lines)[0])
    shorter = lines[::2]
    assert line_features(analyse_lines(shorter, memo=memo.facts)[0], memo=memo.own_features) \
        == line_features(analyse_lines(shorter)[0])


def test_a_page_of_headline_shaped_lines_is_cleaned_to_a_fixed_point():
    # Every line looks like a headline and none is prose: taking "the first line before the
    # body" as the title on every pass stripped one line per pass, and the body never settled.
    lines = [f"Zq{i} Wxv{i} Plk{i} Rrt" for i in range(12)]
    once = clean_text("\n\n".join(lines[:3] + ["Back to top"] + lines[3:]))
    assert clean_text(once.text).text == once.text


def test_a_model_with_a_nan_threshold_is_refused():
    """The walk sends every value right of a NaN threshold; the leaf masks cannot, so such a
    model must fail when compiled instead of scoring differently."""
    from transforms.textclean import TreeEnsemble

    tree = {"feature": [0, 0, 0], "threshold": [float("nan"), 0.0, 0.0], "left": [1, -1, -1],
            "right": [2, -1, -1], "value": [0.0, 1.0, 2.0]}
    with pytest.raises(ValueError, match="NaN threshold"):
        TreeEnsemble({"init": 0.0, "trees": [tree]})
