"""The numpy scorer gives langdetect's own n-grams and probabilities, bit for bit, and the
language stage falls back to langdetect's loop when it does not."""
from __future__ import annotations

import json
import logging
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
from transforms.langdetect_numpy import SELF_CHECK_TEXTS, NgramScorer, agrees_with_langdetect, new_detector
from transforms.language import LANGDETECT_TRIALS, MAX_PARAGRAPH_CHARS, load_langdetect

# Characters from every branch of langdetect's normalisation: Latin of both cases (runs of
# capitals are skipped), digits and punctuation (become spaces), Latin-1 letters and excluded
# signs, Romanian comma letters, general punctuation, Farsi yeh, Vietnamese letters and
# combining marks, kana, CJK, Hangul, Cyrillic, and spaces of several kinds.
ALPHABET = ("aeinorstAEINORST QWZqwz" + "0123456789.,;:!?'\"()-" + "éüßñçÀÉÖ×÷«»" + "șțȘȚ"
            + "\u2013\u2014\u201c\u201d\u2026" + "یيك" + "ếữặ\u0300\u0301\u0303" + "あアカ"
            + "的国人中" + "가한" + "дияПРЖ" + "  \t\n\u00a0")


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
    got: list[bool] = []

    def work(first: int) -> None:  # each thread starts at another text: different new n-grams
        texts = SELF_CHECK_TEXTS[first:] + SELF_CHECK_TEXTS[:first]
        for text in texts * 3:
            got.append(answer(scorer.probabilities, detector_for(factory, text)) == expected[text])

    threads = [threading.Thread(target=work, args=(first,)) for first in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [True] * (8 * 3 * len(SELF_CHECK_TEXTS))


def test_real_paragraphs_get_langdetects_probabilities(factory, scorer):
    paragraphs = []
    for name in ("aeb-dev", "wcxb-dev"):
        truth = json.loads((shared_data(name) / "ground-truth.json").read_text(encoding="utf-8"))
        for page in list(truth.values())[::7]:
            paragraphs.extend(p[:MAX_PARAGRAPH_CHARS] for p in (page.get("articleBody") or "").split("\n")
                              if p.strip())
    assert len(paragraphs) > 2000
    differing = [p for p in paragraphs if answer(scorer.probabilities, detector_for(factory, p))
                 != answer(library, detector_for(factory, p))]
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
