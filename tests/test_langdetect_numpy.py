"""The numpy scorer gives langdetect's own n-grams and probabilities, bit for bit, and the
language stage falls back to langdetect's loop when it does not."""
from __future__ import annotations

import json
import logging
import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langdetect import detector_factory
from langdetect.lang_detect_exception import LangDetectException

import transforms.langdetect_numpy as langdetect_numpy
import transforms.language as language
from tests.conftest import shared_data
from transforms.langdetect_numpy import (
    FIRST_WORDS,
    SELF_CHECK_TEXTS,
    NgramScorer,
    ReplayedDraws,
    SeededWords,
    agrees_with_langdetect,
    appended_text,
    cleaned_text,
    new_detector,
)
from transforms.language import LANGDETECT_TRIALS, MAX_PARAGRAPH_CHARS, load_langdetect

# Characters from every branch of langdetect's normalisation: Latin of both cases (runs of
# capitals are skipped), digits and punctuation (become spaces), Latin-1 letters and excluded
# signs, Romanian comma letters, general punctuation, Farsi yeh, Vietnamese letters and
# combining marks, kana, CJK, Hangul, Cyrillic, and spaces of several kinds.
ALPHABET = ("aeinorstAEINORST QWZqwz" + "0123456789.,;:!?'\"()-" + "éüßñçÀÉÖ×÷«»" + "șțȘȚ"
            + "\u2013\u2014\u201c\u201d\u2026" + "یيك" + "ếữặ\u0300\u0301\u0303" + "あアカ"
            + "的国人中" + "가한" + "дияПРЖ" + "  \t\n\u00a0")
# E-mail addresses and URLs, which appending blanks, and Latin Extended Additional letters
# (U+1Exx), which langdetect's cleaning counts as non-Latin.
ADDRESS_ALPHABET = "ab.-_@:/htps" + "ạẩữẾ" + "  "


@pytest.fixture(scope="module")
def factory():
    load_langdetect()
    return detector_factory._factory


@pytest.fixture(scope="module")
def scorer(factory):
    return NgramScorer(factory)


def detector_for(factory, text: str, trials: int = LANGDETECT_TRIALS):
    return new_detector(factory, text, trials)


def answer(score, detector):
    try:
        return [(p.lang, p.prob) for p in score(detector)]
    except LangDetectException as exc:
        return ("error", str(exc))


def library(detector):
    return detector.get_probabilities()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ALPHABET, max_size=120))
def test_gram_rows_are_langdetects_ngrams_in_its_order(factory, scorer, text):
    detector = detector_for(factory, text)
    detector.cleaning_text()
    assert scorer.grams(scorer.gram_rows(detector.text)) == detector._extract_ngrams()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ALPHABET, max_size=200), trials=st.sampled_from([1, 3, 7]))
def test_probabilities_are_langdetects_bit_for_bit(factory, scorer, text, trials):
    assert (answer(scorer.probabilities, detector_for(factory, text, trials))
            == answer(library, detector_for(factory, text, trials)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ALPHABET + ADDRESS_ALPHABET, max_size=200) | st.sampled_from([
    "mail me@x.org now", "see http://a.b/c?d=e  or  https://f.g", "ạẩữ ab", "  lead  and trail  "]),
    max_text_length=st.sampled_from([10000, 5]))
def test_appended_and_cleaned_text_are_langdetects(factory, text, max_text_length):
    detector = factory.create()
    detector.max_text_length = max_text_length
    detector.append(text)
    assert appended_text(text, max_text_length) == detector.text
    detector.cleaning_text()
    assert cleaned_text(appended_text(text, max_text_length)) == detector.text


def test_cleaning_drops_latin_letters_where_latin_extended_additional_outnumbers_them():
    # langdetect counts U+1Exx letters as non-Latin (it compares a block number with a name)
    assert cleaned_text("ạ ẩ ữ ế ộ ab") == "ạ ẩ ữ ế ộ "
    assert cleaned_text("ạ ẩ ữ abc") == "ạ ẩ ữ abc"
    assert cleaned_text("Приветствуем вас a") == "Приветствуем вас "


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ALPHABET + ADDRESS_ALPHABET, max_size=200), trials=st.sampled_from([1, 3, 7]))
def test_text_probabilities_are_langdetects_bit_for_bit(factory, scorer, text, trials):
    template = detector_for(factory, "", trials)
    assert (answer(lambda _: scorer.text_probabilities(text, template), None)
            == answer(library, detector_for(factory, text, trials)))
    assert template.text == ""


def test_text_probabilities_refuse_a_used_or_verbose_template(factory, scorer):
    used = detector_for(factory, "Le gouvernement a annoncé mercredi de nouvelles mesures.")
    verbose = detector_for(factory, "")
    verbose.set_verbose()
    for template in (used, verbose):
        with pytest.raises(ValueError, match="fresh"):
            scorer.text_probabilities("Die Regierung hat am Mittwoch neue Maßnahmen beschlossen.", template)


@settings(max_examples=60, deadline=None)
@given(seed=st.one_of(st.integers(0, 2 ** 40), st.text(max_size=5)),
       length=st.one_of(st.integers(1, 40), st.sampled_from([64, 65, 1000, 2 ** 20, 2 ** 31 - 1])),
       plan=st.lists(st.one_of(st.just("gauss"), st.integers(1, 400)), max_size=8))
def test_replayed_draws_are_random_randoms(seed, length, plan):
    generator = random.Random()
    generator.seed(seed)
    draws = ReplayedDraws(SeededWords(generator.getstate()), length)
    sequence = range(length)
    for step in plan:  # gauss calls and runs of choices in turn, as langdetect's trials make them
        if step == "gauss":
            assert draws.gauss() == generator.gauss(0.0, 1.0)
            continue
        chosen, ends = draws.peek(step)
        assert chosen.tolist() == [generator.choice(sequence) for _ in range(step)]
        draws.cursor = int(ends[-1])
    assert draws.random() == generator.random()


def test_seeded_words_grow_past_the_first_block_as_the_generator_goes_on():
    generator = random.Random(0)
    words = SeededWords(generator.getstate())
    expected = [generator.getrandbits(32) for _ in range(3 * FIRST_WORDS + 7)]
    assert words.at_least(3 * FIRST_WORDS + 7)[:3 * FIRST_WORDS + 7].tolist() == expected
    assert len(words.at_least(10)) >= 3 * FIRST_WORDS + 7  # kept, not made again
    with pytest.raises(ValueError, match="replay"):
        ReplayedDraws(words, 0)


def test_a_detector_without_a_seed_gets_langdetects_distribution_of_answers(factory, scorer):
    # seed None: each detector seeds from the OS, so answers vary; the scorer must not reuse
    # one stream for all of them
    text = "Le gouvernement a annoncé mercredi de nouvelles mesures pour limiter la migration."
    answers = set()
    for _ in range(5):
        detector = detector_for(factory, text, 1)
        detector.seed = None
        answers.add(tuple(answer(scorer.probabilities, detector)))
    assert len(answers) > 1


def test_prior_map_is_used_as_langdetect_uses_it(factory, scorer):
    text = "Le gouvernement a annoncé mercredi de nouvelles mesures pour limiter la migration."
    detectors = [detector_for(factory, text), detector_for(factory, text)]
    for detector in detectors:
        detector.set_prior_map({"fr": 0.2, "it": 0.5, "es": 0.3})
    assert answer(scorer.probabilities, detectors[0]) == answer(library, detectors[1])
    assert answer(library, detectors[1]) != answer(library, detector_for(factory, text))


def test_no_known_ngram_raises_langdetects_error(factory, scorer):
    with pytest.raises(LangDetectException, match="No features"):
        scorer.probabilities(detector_for(factory, "12345 !!! ---"))


def test_a_full_word_cache_is_emptied_and_answers_do_not_change(factory, monkeypatch):
    monkeypatch.setattr(langdetect_numpy, "WORD_CACHE_SIZE", 8)
    scorer = NgramScorer(factory)
    for text in SELF_CHECK_TEXTS * 2:
        assert answer(scorer.probabilities, detector_for(factory, text)) == answer(
            library, detector_for(factory, text))
        assert len(scorer._word_rows) <= 8


def test_long_pieces_are_scored_but_not_cached(factory):
    # Chinese has no spaces: a paragraph is one piece that never recurs.
    scorer = NgramScorer(factory)
    paragraph = "政府周三宣布了应对边境移民问题的新措施，官员表示这些措施将在下个月生效。" * 8
    short = "Regierung Maßnahmen"
    for text in (paragraph, short, paragraph):
        assert answer(scorer.probabilities, detector_for(factory, text)) == answer(
            library, detector_for(factory, text))
    assert sorted(piece for piece, _ in scorer._word_rows) == ["Maßnahmen", "Regierung"]


def test_verbose_and_zero_alpha_detectors_get_langdetects_behaviour(factory, scorer, capsys):
    text = "Le gouvernement a annoncé mercredi de nouvelles mesures pour limiter la migration."
    verbose = [detector_for(factory, text), detector_for(factory, text)]
    for detector in verbose:
        detector.set_verbose()
    assert answer(scorer.probabilities, verbose[0]) == answer(library, verbose[1])
    printed = capsys.readouterr().out
    assert printed and printed.count("==>") == 2 * LANGDETECT_TRIALS  # both printed langdetect's trace
    # An alpha of 0 can make every probability 0: langdetect then divides by zero.
    zero_alpha = [detector_for(factory, "ü ş ő ą ř"), detector_for(factory, "ü ş ő ą ř")]
    outcomes = []
    for detector, score in zip(zero_alpha, (scorer.probabilities, library)):
        detector.set_alpha(0.0)
        detector.ALPHA_WIDTH = 0.0
        try:
            outcomes.append(answer(score, detector))
        except ZeroDivisionError:
            outcomes.append("ZeroDivisionError")
    assert outcomes == ["ZeroDivisionError", "ZeroDivisionError"]


class _SlowProfiles(dict):
    """langdetect's profiles, read slowly: a thread filling a row yields to the others."""

    def __getitem__(self, gram):
        time.sleep(0.0002)
        return super().__getitem__(gram)


def test_threads_filling_rows_at_once_get_langdetects_answers(factory):
    scorer = NgramScorer(factory)  # empty: every thread's first texts add rows
    # Each new row's profile is read between taking its number and publishing it, so threads
    # adding n-grams at once interleave there (without `_row`'s lock, rows were given twice).
    scorer._word_lang_prob_map = _SlowProfiles(factory.word_lang_prob_map)
    expected = {text: answer(library, detector_for(factory, text)) for text in SELF_CHECK_TEXTS}
    template = detector_for(factory, "")  # one for all threads, as the language stage shares it
    got: list[bool] = []

    def work(first: int) -> None:  # each thread starts at another text: different new n-grams
        texts = SELF_CHECK_TEXTS[first:] + SELF_CHECK_TEXTS[:first]
        for text in texts * 3:
            got.append(answer(scorer.probabilities, detector_for(factory, text)) == expected[text])
            got.append(answer(lambda _: scorer.text_probabilities(text, template), None) == expected[text])

    threads = [threading.Thread(target=work, args=(first,)) for first in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [True] * (2 * 8 * 3 * len(SELF_CHECK_TEXTS))


def test_real_paragraphs_get_langdetects_probabilities(factory, scorer):
    paragraphs = []
    for name in ("aeb-dev", "wcxb-dev"):
        truth = json.loads((shared_data(name) / "ground-truth.json").read_text(encoding="utf-8"))
        for page in list(truth.values())[::7]:
            paragraphs.extend(p[:MAX_PARAGRAPH_CHARS] for p in (page.get("articleBody") or "").split("\n")
                              if p.strip())
    assert len(paragraphs) > 2000
    template = detector_for(factory, "")
    differing = [p for p in paragraphs if not (
        answer(library, detector_for(factory, p)) == answer(scorer.probabilities, detector_for(factory, p))
        == answer(lambda _: scorer.text_probabilities(p, template), None))]
    assert differing == []


def test_stage_falls_back_to_langdetects_loop_when_the_self_check_fails(monkeypatch, caplog):
    class WrongScorer(NgramScorer):
        def probabilities(self, detector):
            return []

    monkeypatch.setattr(langdetect_numpy, "NgramScorer", WrongScorer)
    monkeypatch.setattr(language, "_scorer", None)  # both restored after the test
    monkeypatch.setattr(language, "_scorer_loaded", False)
    with caplog.at_level(logging.WARNING, logger=langdetect_numpy.LOG.name):
        probabilities = load_langdetect()
    assert language._scorer is None
    assert "self-check" in caplog.text
    text = "Die Regierung hat am Mittwoch neue Maßnahmen zur Migration beschlossen, sagte der Sprecher."
    assert probabilities(text) == answer(library, detector_for(detector_factory._factory, text))


def test_self_check_notices_a_scorer_that_differs(factory, scorer):
    assert agrees_with_langdetect(scorer, factory, SELF_CHECK_TEXTS, LANGDETECT_TRIALS)

    class OffByOneTrial(NgramScorer):
        def probabilities(self, detector):
            detector.n_trial += 1
            return super().probabilities(detector)

    assert not agrees_with_langdetect(OffByOneTrial(factory), factory, SELF_CHECK_TEXTS, LANGDETECT_TRIALS)
