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
import math
import random
import re
import threading
from typing import Any, Callable, Iterable

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import DetectorFactory
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.language import Language
from langdetect.utils.ngram import NGram
from langdetect.utils.unicode_block import unicode_block

LOG = logging.getLogger(__name__)

# Words of distinct spelling seen per process; news text repeats most of its words, and the
# cache is only a shortcut, so emptying it when full changes no answer.
WORD_CACHE_SIZE = 50_000
# Longer pieces are not cached: Chinese, Japanese or Thai text has no spaces, so a whole
# paragraph is one piece that never recurs (~9.5 KB of rows for 600 characters); capping the
# length keeps the full cache to a few tens of MB.
WORD_CACHE_MAX_CHARS = 32

# Texts in several scripts and cases (acronyms are skipped by langdetect's capital-word rule,
# Vietnamese and Farsi letters are normalised; an address, a URL and runs of spaces are cleared
# on appending; Latin letters are dropped where Latin Extended Additional ones outnumber them)
# on which a loaded scorer must agree with langdetect before it is used.
SELF_CHECK_TEXTS = (
    "The government announced new measures on Wednesday to deal with migration across the border.",
    "Die Regierung hat am Mittwoch neue Maßnahmen zur Migration beschlossen, sagte der Sprecher.",
    "NASA and the EU SAID on Monday that the ISS mission would go ahead, Reuters reported.",
    "Правительство объявило в среду о новых мерах по борьбе с миграцией через границу.",
    "政府周三宣布了应对边境移民问题的新措施。日本語のテキストもここにあります。",
    "Hükümet çarşamba günü sınır ötesi göçle mücadele için yeni önlemler açıkladı.",
    "Chính phủ đã công bố các biện pháp mới vào thứ Tư để đối phó với di cư qua biên giới.",
    "دولت روز چهارشنبه اقدامات جدیدی را برای مقابله با مهاجرت اعلام کرد ی",
    "Write to news.desk@example.org   or see   https://example.org/news?id=7   for  more  news.",
    "Tin mới: ữ ặ ế ộ ờ ổ ự ẫ ầ ẩ ậ ắ ằ ẳ ẵ ẹ ẻ ẽ ề ể ễ ệ ỉ ị ọ ỏ ố ồ mới",
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
        self._streams: dict[Any, SeededWords] = {}

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
        if detector.verbose or type(detector.random) is not random.Random:
            return detector.get_probabilities()  # langdetect prints each step; we have none
        detector.text = cleaned_text(detector.text)
        return self._score(detector.text, detector)

    def text_probabilities(self, text: str, template: Detector) -> list[Language]:
        """What a fresh detector made like `template` answers once `text` is appended to it:
        `probabilities` without making a detector (~11 us: its generator is seeded from the
        OS) or appending character by character (~50 us a paragraph). `template` is only read, so threads share it."""
        if template.verbose or template.text or type(template.random) is not random.Random:
            raise ValueError("the template must be a fresh, quiet langdetect Detector")
        return self._score(cleaned_text(appended_text(text, template.max_text_length)), template)

    def _score(self, text: str, detector: Detector) -> list[Language]:
        """langdetect's `_detect_block` and `_sort_probability` for a cleaned text, with the
        settings of `detector`, which is only read."""
        rows = self.gram_rows(text)
        if not rows:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        gram_rows = np.array(rows)
        language_probs = np.zeros(self._languages)
        draws = ReplayedDraws(self._stream(detector), len(rows))
        trials = detector.n_trial
        for _ in range(trials):
            if detector.prior_map is None:
                prob = np.full(self._languages, 1.0 / self._languages)
            else:
                prob = np.array(detector.prior_map, dtype=float)
            alpha = detector.alpha + draws.gauss() * detector.ALPHA_WIDTH
            prob = _trial(prob, self._matrix, gram_rows, alpha / detector.BASE_FREQ, draws, detector)
            language_probs += prob / trials
        return detector._sort_probability(language_probs.tolist())

    def _stream(self, detector: Detector) -> "SeededWords":
        """The words the detector's generator gives once seeded: the same for every detector of
        one seed, so kept per seed (langdetect's is fixed; None seeds from the OS each time)."""
        seed = detector.seed
        stream = self._streams.get(seed) if seed is not None else None
        if stream is None:
            generator = random.Random()
            generator.seed(seed)
            stream = SeededWords(generator.getstate())
            if seed is not None:
                self._streams[seed] = stream
        return stream


_TWO_PI = 2.0 * math.pi  # random.TWOPI, which random.gauss uses

# The draws of a trial taken at a time: a trial of news text takes ~70 (the first normalisation,
# then ~14 steps of 5); further draws are taken STEP_DRAWS * MORE_STEPS at a time.
FIRST_STEPS = 15
MORE_STEPS = 40
STEP_DRAWS = 5


def _trial(prob: np.ndarray, matrix: np.ndarray, gram_rows: np.ndarray, smoothing: float,
           draws: "ReplayedDraws", detector: Detector) -> np.ndarray:
    """One of langdetect's trials: `prob` times one drawn n-gram's factors (its row of `matrix`
    plus `smoothing`), normalised, then times 5 more at a time, normalised after each 5, until
    one language holds more than CONV_THRESHOLD or ITERATION_LIMIT draws are done.

    The 5 products of a step are one `multiply.reduce` down a column stack whose first row is
    `prob`: the same left-to-right products as langdetect's one by one, per language."""
    threshold, limit = detector.CONV_THRESHOLD, detector.ITERATION_LIMIT
    stack, ends = _drawn_factors(draws, 1 + STEP_DRAWS * FIRST_STEPS, matrix, gram_rows, smoothing)
    position, step, done = 0, 1, 0
    while True:
        if position + step >= len(stack):  # the draws taken are used up: take more
            draws.cursor = int(ends[-1])
            stack, ends = _drawn_factors(draws, STEP_DRAWS * MORE_STEPS, matrix, gram_rows, smoothing)
            position = 0
        stack[position] = prob
        prob = np.multiply.reduce(stack[position:position + step + 1], axis=0)
        position += step
        values = prob.tolist()
        total = sum(values)  # Python's sum, in langdetect's order
        if total == 0.0:  # only with an alpha of ~0: langdetect divides by zero too
            raise ZeroDivisionError("float division by zero")
        prob /= total
        # a positive divisor keeps the order of the quotients: max(p / t) is max(p) / t
        if max(values) / total > threshold or done >= limit:
            break
        step = STEP_DRAWS
        done += STEP_DRAWS
    draws.cursor = int(ends[position - 1])
    return prob


def _drawn_factors(draws: "ReplayedDraws", count: int, matrix: np.ndarray, gram_rows: np.ndarray,
                   smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """The next `count` draws' factors as rows 1.. of a stack (row 0 left for prob), and the
    cursor after each draw. langdetect adds alpha / BASE_FREQ to the drawn n-gram's
    probabilities one by one: the same sums."""
    chosen, ends = draws.peek(count)
    stack = np.empty((count + 1, matrix.shape[1]))
    np.add(matrix[gram_rows[chosen]], smoothing, out=stack[1:])
    return stack, ends


# How many of a seed's 32-bit words are made at first, and at least when more are needed: ~3
# trials of ~70 draws at ~1.5 words a draw use ~320.
FIRST_WORDS = 4096


class SeededWords:
    """The 32-bit words a `random.Random` gives from one state, made with numpy's MT19937, the
    same generator (`random.getrandbits(32)` is its next word): made once, grown on demand."""

    def __init__(self, state: tuple) -> None:
        version, internal, _gauss_next = state
        if version != 3 or len(internal) != 625:
            raise ValueError(f"not a Mersenne Twister state of random.Random: version {version}")
        self._generator = np.random.MT19937()
        self._generator.state = {"bit_generator": "MT19937",
                                 "state": {"key": np.array(internal[:-1], dtype=np.uint32),
                                           "pos": internal[-1]}}
        self._lock = threading.Lock()
        self.words = self._generator.random_raw(FIRST_WORDS).astype(np.uint32)

    def at_least(self, count: int) -> np.ndarray:
        """The first `count` words or more (a thread holding an earlier array keeps it whole)."""
        words = self.words
        if len(words) < count:
            with self._lock:
                words = self.words
                if len(words) < count:
                    more = self._generator.random_raw(max(count - len(words), FIRST_WORDS))
                    words = self.words = np.concatenate([words, more.astype(np.uint32)])
        return words


class ReplayedDraws:
    """`random.Random.gauss(0.0, 1.0)` and `random.Random.choice` of a `length`-long sequence,
    as a freshly seeded generator answers them, read from its words: choice's rejection
    sampling (the top k bits of a word, k = length.bit_length(), redrawn while >= length) is
    done for many draws in one numpy pass, where `random.choice` takes ~1.3 us a draw."""

    def __init__(self, words: SeededWords, length: int) -> None:
        if not 0 < length < 2 ** 31:
            raise ValueError(f"cannot replay choices from {length} items")
        self._words = words
        self._length = length
        self._shift = 32 - length.bit_length()
        self._gauss_next: float | None = None
        self.cursor = 0  # words used so far

    def random(self) -> float:
        """`random.random()`: 53 bits from two words, as CPython builds it."""
        first, second = self._words.at_least(self.cursor + 2)[self.cursor:self.cursor + 2].tolist()
        self.cursor += 2
        return ((first >> 5) * 67108864.0 + (second >> 6)) * (1.0 / 9007199254740992.0)

    def gauss(self) -> float:
        """`random.gauss(0.0, 1.0)`: two normal values from two uniform ones, the second kept."""
        z, self._gauss_next = self._gauss_next, None
        if z is None:
            x2pi = self.random() * _TWO_PI
            g2rad = math.sqrt(-2.0 * math.log(1.0 - self.random()))
            z = math.cos(x2pi) * g2rad
            self._gauss_next = math.sin(x2pi) * g2rad
        return 0.0 + z * 1.0

    def peek(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The next `count` choices (indices below length) from the cursor, and for each the
        cursor after it; the cursor is left where it is."""
        span = 2 * count + 64  # a word is rejected with probability below 1/2
        while True:
            words = self._words.at_least(self.cursor + span)[self.cursor:self.cursor + span]
            below = words >> self._shift
            accepted = np.flatnonzero(below < self._length)
            if len(accepted) >= count:
                accepted = accepted[:count]
                return below[accepted].astype(np.intp), accepted + (self.cursor + 1)
            span *= 2



_SPACE_RUN = re.compile(" {2,}")
_LATIN = re.compile("[A-z]")  # langdetect's test 'A' <= ch <= 'z', [ \\ ] ^ _ ` included
_FROM_U0300 = re.compile("[\u0300-\U0010ffff]")


def appended_text(text: str, max_text_length: int) -> str:
    """The text `Detector.append` gives a fresh detector: URLs and e-mail addresses blanked,
    Vietnamese marks composed, cut to max_text_length, runs of spaces made one; the same string,
    with regular expressions where langdetect adds one character at a time (~50 us a paragraph)."""
    text = Detector.URL_RE.sub(" ", text)
    if "@" in text:  # the only costly pattern (~8 us a paragraph) needs one
        text = Detector.MAIL_RE.sub(" ", text)
    if not text.isascii():  # the marks it composes are not ASCII
        text = NGram.normalize_vi(text)
    # langdetect keeps a space unless the character before it, in this text, was a space
    return _SPACE_RUN.sub(" ", text[:max_text_length])


class _CountsAsNonLatin(dict):
    """Code point -> whether `Detector.cleaning_text` counts the character as non-Latin: its own
    test, evaluated once per character. (It compares `unicode_block`'s number with a block name,
    so every character from U+0300 counts, Latin Extended Additional included.)"""

    def __missing__(self, code: int) -> bool:
        ch = chr(code)
        counts = bool(ch >= "\u0300" and unicode_block(ch) != "Latin Extended Additional")
        self[code] = counts
        return counts


_COUNTS_AS_NON_LATIN = _CountsAsNonLatin()


def cleaned_text(text: str) -> str:
    """`Detector.cleaning_text`: without its Latin letters when non-Latin characters outnumber
    them two to one, else as it is; counted with regular expressions, not character by character."""
    if text.isascii():  # no character from U+0300
        return text
    latin = len(_LATIN.findall(text))
    candidates = _FROM_U0300.findall(text)  # the only characters that can count as non-Latin
    if latin * 2 >= len(candidates):
        return text
    non_latin = sum(_COUNTS_AS_NON_LATIN[ord(ch)] for ch in candidates)
    return _LATIN.sub("", text) if latin * 2 < non_latin else text


def new_detector(factory: DetectorFactory, text: str, trials: int) -> Detector:
    """A detector of `factory`'s profiles holding `text`, averaging `trials` random trials."""
    detector = factory.create()
    detector.n_trial = trials
    detector.append(text)
    return detector


def agrees_with_langdetect(scorer: NgramScorer, factory: DetectorFactory, texts: Iterable[str],
                           trials: int) -> bool:
    """True when `scorer` gives langdetect's probabilities, or its error, for every text: both
    for a detector holding the text and for the text itself (`text_probabilities`)."""
    template = new_detector(factory, "", trials)

    def answer(score: Callable[[], list[Language]]) -> Any:
        try:
            return [(p.lang, p.prob) for p in score()]
        except LangDetectException as exc:
            return ("error", str(exc))

    return all(answer(new_detector(factory, text, trials).get_probabilities)
               == answer(lambda: scorer.probabilities(new_detector(factory, text, trials)))
               == answer(lambda: scorer.text_probabilities(text, template))
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
