"""Per-line features for the plain-text boilerplate classifier.

Everything here is a pure function of one page's lines: no corpus statistics, so the same
features are available inside the per-document pipeline step. Language knowledge comes from
jusText's stop-word lists (100 languages) and a small multilingual lexicon of chrome words;
neither names a site.
"""
from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import NamedTuple

import numpy as np

WORD_RE = re.compile(r"\w+")

# A line ending like this reads as a sentence, not a menu entry or a heading.
TERMINAL_PUNCTUATION = tuple('.!?…。！？"”»\'’)')
BULLET_RE = re.compile(r"^\s*(?:[*•·‣◦▪▸►\-–—]|\d{1,2}[.)])\s+")
SEPARATOR_RE = re.compile(r"\s[|»›/·•]\s|\s[|»›]$")
URL_OR_EMAIL_RE = re.compile(r"https?://|www\.|\S+@\S+\.\w+")
COPYRIGHT_RE = re.compile(r"©|\(c\)\s*\d{4}|copyright|all rights reserved|todos los derechos|"
                          r"tous droits|alle rechte|tutti i diritti|todos os direitos|"
                          r"все права|版权|著作権", re.I)

# Multilingual words that name page furniture rather than content. A hit is a feature the
# model weighs against everything else, not a verdict (an article may say "share").
CHROME_WORDS_RE = re.compile(
    r"\b(?:share|shares|tweet|pin it|email|print|subscribe|subscription|newsletter|sign ?in|"
    r"sign ?up|log ?in|log ?out|register|follow us|read more|keep reading|continue reading|"
    r"read also|see also|more from|related|recommended|trending|popular|most read|comments?|"
    r"reply|advertisement|advertising|sponsored|skip to|back to top|scroll to top|menu|search|"
    r"home|privacy|terms of (?:use|service)|contact us|about us|cookies?|download the app|"
    r"watch|listen|podcast|photo|image|video|gallery|loading|click here|tags?|categor(?:y|ies)|"
    # es / pt / it / fr / de / nl / tr / pl / ru
    r"compartir|suscr[ií]bete|suscribirse|iniciar sesi[oó]n|publicidad|comentarios?|"
    r"lee tambi[eé]n|leer m[aá]s|noticias relacionadas|relacionad[ao]s|compartilhar|assine|"
    r"leia tamb[eé]m|publicidade|coment[aá]rios|condividi|iscriviti|pubblicit[aà]|commenti|"
    r"leggi anche|partager|abonnez|s'abonner|connexion|publicit[eé]|commentaires?|"
    r"lire aussi|[àa] lire|teilen|abonnieren|anmelden|werbung|kommentare?|datenschutz|"
    r"impressum|mehr zum thema|lesen sie auch|delen|abonneren|reacties|lees ook|"
    r"paylaş|abone ol|yorum(?:lar)?|reklam|ilgili haberler|udostępnij|subskrybuj|reklama|"
    r"komentarze|czytaj też|поделиться|подписаться|реклама|комментари\w*|читайте также)\b",
    re.I)
COOKIE_RE = re.compile(r"cookie|çerez|galletas|biscotti|файл\w* cookie|クッキー|쿠키", re.I)
CONSENT_RE = re.compile(r"consent|accept|agree|privacy|gdpr|izin|kabul|akzeptier|zustimm|"
                        r"aceptar|acepto|consentimiento|accepter|consentement|accetta|"
                        r"aceitar|согласи", re.I)

MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|"
    "july|august|september|october|november|december|"
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|"
    "diciembre|janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|"
    "octobre|novembre|décembre|decembre|januar|februar|märz|juni|juli|oktober|dezember|"
    "gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|janeiro|"
    "fevereiro|março|maio|junho|julho|setembro|outubro|dezembro|ocak|şubat|mart|nisan|"
    "mayıs|haziran|temmuz|ağustos|eylül|ekim|kasım|aralık")
MONTH_NUMBERS = {
    **{m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    "sept": 9, "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6,
    "julio": 7, "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12, "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5,
    "juin": 6, "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10,
    "novembre": 11, "décembre": 12, "decembre": 12, "januar": 1, "februar": 2, "märz": 3,
    "juni": 6, "juli": 7, "oktober": 10, "dezember": 12, "gennaio": 1, "febbraio": 2,
    "aprile": 4, "maggio": 5, "giugno": 6, "luglio": 7, "settembre": 9, "ottobre": 10,
    "dicembre": 12, "janeiro": 1, "fevereiro": 2, "março": 3, "maio": 5, "junho": 6,
    "julho": 7, "setembro": 9, "outubro": 10, "dezembro": 12, "ocak": 1, "şubat": 2,
    "mart": 3, "nisan": 4, "mayıs": 5, "haziran": 6, "temmuz": 7, "ağustos": 8, "eylül": 9,
    "ekim": 10, "kasım": 11, "aralık": 12,
}
WEEKDAYS = (
    "mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|"
    "saturday|sunday|lunes|martes|miércoles|miercoles|jueves|viernes|sábado|sabado|domingo|"
    "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|montag|dienstag|mittwoch|donnerstag|"
    "freitag|samstag|sonntag|lunedì|martedì|mercoledì|giovedì|venerdì|sabato|"
    "segunda-feira|terça-feira|quarta-feira|quinta-feira|sexta-feira")
_D = r"(?P<d>\d{1,2})(?:st|nd|rd|th|er|º)?"
_Y = r"(?P<y>(?:19|20)\d{2})"
_M = rf"(?P<m>{MONTHS})\.?"
DATE_PATTERNS = (
    re.compile(rf"\b{_Y}[-/.](?P<mn>\d{{1,2}})[-/.](?P<d>\d{{1,2}})(?!\d)"),
    re.compile(rf"\b{_M}\s+{_D},?\s+{_Y}\b", re.I),
    re.compile(rf"\b{_D}\.?\s+(?:de\s+)?{_M}\s+(?:de\s+)?{_Y}\b", re.I),
    re.compile(rf"\b(?P<d>\d{{1,2}})[./](?P<mn>\d{{1,2}})[./]{_Y}\b"),
)
# Date-only lines: a date plus at most this many other tokens (time, zone, weekday, "Updated").
DATE_LINE_MAX_EXTRA_TOKENS = 6
DATE_WORD_RE = re.compile(rf"\b(?:{MONTHS}|{WEEKDAYS})\b\.?", re.I)
TIME_RE = re.compile(r"\b\d{1,2}:\d{2}\b")
DATE_FILLER_RE = re.compile(
    r"\b(?:am|pm|a\.m|p\.m|est|edt|pst|pdt|cet|cest|gmt|utc|bst|ist|updated|published|"
    r"posted|on|at|de|del|le|am|um|el|the|modified|last|actualizado|publicado|mis à jour|"
    r"publié|aktualisiert|veröffentlicht|h|hs|hrs|ago|hours|minutes|days|read|min)\b",
    re.I)
BYLINE_RE = re.compile(
    r"^(?:by|por|par|von|di|door|av|af|przez|de|escrito por|written by|reporting by|"
    r"autor(?:a)?:?|author:?|yazar:?)\s+(?P<name>[^\W\d_][\w.'’\-]*(?:[\s,]+(?:and|y|et|und|e|&)?"
    r"\s*[^\W\d_][\w.'’\-]*){0,7})\s*$",
    re.I)
RELATIVE_TIME_RE = re.compile(
    r"\b\d+\s*(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|h|d|m)\s+ago\b|"
    r"\bhace\s+\d+\s+\w+|\bil y a\s+\d+|\bvor\s+\d+\s+(?:minuten|stunden|tagen)|"
    r"\b\d+\s+(?:dakika|saat|gün)\s+önce|\b\d+\s+(?:минут\w*|час\w*|дн\w*)\s+назад", re.I)
# The heading that opens a reader-comment section; what follows it is not the article.
COMMENT_HEADING_RE = re.compile(
    r"^(?:\d+\s+)?(?:comments?|reader comments|responses?|replies|reactions|discussion|"
    r"join the (?:discussion|conversation)|leave a (?:comment|reply)|post a comment|"
    r"add a comment|what do you think\??|conversation|kommentare?|comentarios?|comentários|"
    r"commentaires?|commenti|yorumlar|reacties|komentarze|комментари\w*)"
    r"(?:\s*\(\d+\))?(?:\s+\d+)?\s*:?$", re.I)
IMAGE_LABEL_RE = re.compile(r"^(?:avatar of|photo of|image of|picture of|foto de|photo de|"
                            r"bild von|avatar de|avatar di|profile picture)\b", re.I)


def ascii_twin(pattern: re.Pattern) -> re.Pattern:
    """`pattern` (compiled with re.IGNORECASE) without the flag, to search `fold(text)` with.

    Why: sre folds the case of every character it compares, which made these searches 3-5x
    slower than the same search on lower-cased text (CHROME_WORDS_RE: 19 -> 4 us a line).
    The answer is the same when the text's only cased characters are ASCII (see `fold`) and
    the pattern has no upper-case letter and no character that re.IGNORECASE equates with an
    ASCII letter ("ı" matches "i", "ſ" matches "s", the Kelvin sign matches "k"): both are
    checked here, so a pattern edited into one that would differ fails at import.
    """
    if not pattern.flags & re.IGNORECASE:
        raise ValueError(f"not a case-insensitive pattern: {pattern.pattern[:40]!r}")
    if re.search(r"\\[^bBwWsSdDAZ\W]", pattern.pattern):  # \u0131, \x49, \N{...} would hide a letter
        raise ValueError(f"character escape in {pattern.pattern[:40]!r}")
    literal = re.sub(r"\\.", "", pattern.pattern)  # class escapes (\b, \W, \S) are not letters
    if re.search(r"[A-Z]", literal):
        raise ValueError(f"upper-case letter in {pattern.pattern[:40]!r}")
    for char in set(literal) - set(map(chr, range(128))):
        if any(re.fullmatch(re.escape(char), chr(code), re.IGNORECASE) for code in range(128)):
            raise ValueError(f"{char!r} in {pattern.pattern[:40]!r} matches an ASCII letter")
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


_REGEX_SPECIAL = set(".^$*+?{}()[]|\\")


def _scan(source: str, start: int = 0):
    """(index, character, depth) for each character of `source` from `start` that is outside
    a character class and not escaped; depth counts the groups open before it."""
    depth, in_class, i = 0, False, start
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # a "]" first in a class ("[]a]", "[^]a]") is a member, not the class's end
            i += 2 if source[i + 1:i + 2] == "^" else 1
            if source[i:i + 1] == "]":
                i += 1
            continue
        else:
            if char == ")":
                depth -= 1
            yield i, char, depth
            if char == "(":
                depth += 1
        i += 1


def _top_level_branches(body: str) -> list[str]:
    """`body` split at the `|` that are outside any group or character class."""
    cuts = [i for i, char, depth in _scan(body) if char == "|" and depth == 0]
    return [body[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(body)])]


def _first_chars(branch: str) -> tuple[list[str], str] | None:
    """(the characters a branch can start with, the rest of the branch), or None when its
    start is not one literal character or a class of literal characters."""
    if branch.startswith("[") and "]" in branch[1:]:
        end = branch.index("]", 1)
        members = branch[1:end]
        if not members or members[0] == "^" or any(c in "\\-[" for c in members):
            return None
        chars, rest = list(dict.fromkeys(members)), branch[end + 1:]
    elif branch.startswith("\\") and len(branch) > 1 and not branch[1].isalnum():
        chars, rest = [branch[1]], branch[2:]
    elif branch and branch[0] not in _REGEX_SPECIAL:
        chars, rest = [branch[0]], branch[1:]
    else:
        return None
    if rest[:1] in ("?", "*", "+", "{"):  # the quantifier belongs to the first character
        return None
    return chars, rest


def first_char_dispatch(pattern: re.Pattern) -> re.Pattern:
    """`pattern` with its alternatives grouped by first character: same matches, found faster.

    Why: sre tries a long alternation's branches one after another at every place it looks,
    CHROME_WORDS_RE's 170 at every word start; grouped, it tests the first character once and
    enters one group. For `\\b(?:A|B|...)SUFFIX` or a bare `A|B|...`. Each group keeps its
    branches in their written order, and branches in different groups cannot both match at one
    place (checked: no two group characters match each other under the pattern's flags, e.g.
    "ı" and "i" under re.IGNORECASE), so every search finds the match the original finds.
    Raises ValueError for a pattern of any other shape, and for one with capturing groups.
    """
    source, prefix, suffix = pattern.pattern, "", ""
    if pattern.groups:  # moved into groups, they would be numbered in another order
        raise ValueError(f"capturing groups in {source[:40]!r}")
    if pattern.flags & re.VERBOSE:  # its white space and comments are not literal characters
        raise ValueError(f"verbose pattern {source[:40]!r}")
    if source.startswith(r"\b(?:"):
        opened = len(r"\b(?:")
        close = next((i for i, char, depth in _scan(source, opened) if char == ")" and depth == -1), None)
        if close is None:
            raise ValueError(f"unbalanced group in {source[:40]!r}")
        branches = _top_level_branches(source[opened:close])
        prefix, suffix = r"\b", source[close + 1:]
        if "|" in suffix:
            raise ValueError(f"alternation after the group in {source[:40]!r}")
    else:
        branches = _top_level_branches(source)
    if len(branches) < 2:
        raise ValueError(f"no alternation to group in {source[:40]!r}")
    groups: dict[str, list[str]] = {}
    for branch in branches:
        parsed = _first_chars(branch)
        if parsed is None:
            raise ValueError(f"branch {branch[:30]!r} does not start with a literal character")
        chars, rest = parsed
        for char in chars:
            groups.setdefault(char, []).append(rest)
    keys = list(groups)
    for i, first in enumerate(keys):
        for second in keys[i + 1:]:
            if (re.fullmatch(re.escape(first), second, pattern.flags)
                    or re.fullmatch(re.escape(second), first, pattern.flags)):
                raise ValueError(f"{first!r} and {second!r} match each other in {source[:40]!r}")
    body = "|".join(f"{re.escape(char)}(?:{'|'.join(rests)})" for char, rests in groups.items())
    return re.compile(f"{prefix}(?:{body}){suffix}", pattern.flags)


_DROP_ASCII = dict.fromkeys(range(128))


def fold(text: str) -> str | None:
    """text.lower() when `ascii_twin` patterns may search it in place of re.IGNORECASE ones
    on text, else None: when every non-ASCII character is caseless (curly quotes, dashes,
    bullets, CJK: ~85% of the dev pages' non-ASCII lines), re.IGNORECASE matches those only
    as themselves, and lower() changes nothing but ASCII letters."""
    if text.isascii():
        return text.lower()
    if all(char.lower() == char == char.upper() for char in text.translate(_DROP_ASCII)):
        return text.lower()
    return None


def caseless_search(pattern: re.Pattern, twin: re.Pattern, text: str, folded: str | None) -> bool:
    """Whether `pattern` finds a match in `text`; `folded` is fold(text) (then the faster
    `twin` from ascii_twin answers)."""
    return bool(twin.search(folded) if folded is not None else pattern.search(text))


# The searches of every line, in the forms that run fastest: grouped by first character, and
# without re.IGNORECASE (the _ASCII twins) for text that `fold` lower-cases.
_CHROME_WORDS_FAST = first_char_dispatch(CHROME_WORDS_RE)
_COOKIE_FAST = first_char_dispatch(COOKIE_RE)
_CONSENT_FAST = first_char_dispatch(CONSENT_RE)
_COPYRIGHT_FAST = first_char_dispatch(COPYRIGHT_RE)
_DATE_WORD_FAST = first_char_dispatch(DATE_WORD_RE)
_DATE_FILLER_FAST = first_char_dispatch(DATE_FILLER_RE)
_CHROME_WORDS_ASCII = ascii_twin(_CHROME_WORDS_FAST)
_COOKIE_ASCII = ascii_twin(_COOKIE_FAST)
_CONSENT_ASCII = ascii_twin(_CONSENT_FAST)
_COPYRIGHT_ASCII = ascii_twin(_COPYRIGHT_FAST)
# Every date pattern holds a year 19xx/20xx, and every relative-time shape a digit: lines
# without one (most lines) skip those slow case-insensitive searches.
_YEAR_RE = re.compile(r"(?:19|20)\d\d")
_DIGIT_RE = re.compile(r"\d")


# Scripts written without spaces: a \w+ run there is a clause, not a word.
UNSEGMENTED_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
# Rough characters per word in those scripts, so lengths compare with spaced languages.
UNSEGMENTED_CHARS_PER_WORD = 2


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def word_units(text: str, tokens: list[str]) -> int:
    """Approximate word count: tokens, with CJK/Thai characters counted as
    1/UNSEGMENTED_CHARS_PER_WORD of a word each instead of one token per run."""
    unsegmented = len(UNSEGMENTED_RE.findall(text))
    if not unsegmented:
        return len(tokens)
    spaced = sum(1 for t in tokens if not UNSEGMENTED_RE.search(t))
    return spaced + unsegmented // UNSEGMENTED_CHARS_PER_WORD


def parse_date(text: str):
    """The first full date (with a year) in `text` as datetime.date, else None."""
    import datetime

    if not _YEAR_RE.search(text):
        return None
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            groups = match.groupdict()
            try:
                year = int(groups["y"])
                day = int(groups["d"])
                if groups.get("mn"):
                    month = int(groups["mn"])
                else:
                    month = MONTH_NUMBERS.get(groups["m"].lower().rstrip("."))
                    if month is None:
                        month = MONTH_NUMBERS.get(groups["m"].lower()[:3])
                if month is None:
                    continue
                return datetime.date(year, month, day)
            except (ValueError, TypeError, KeyError):
                continue
    return None


def is_date_line(text: str) -> bool:
    """A line that is a date (with or without year, time, weekday), and little else."""
    return _is_date_line(text, words(text))


def _is_date_line(text: str, tokens: list[str]) -> bool:
    if not tokens or len(tokens) > 12:
        return False
    if len(tokens) <= 8 and _DIGIT_RE.search(text) and RELATIVE_TIME_RE.search(text):
        return True
    has_date = parse_date(text) is not None or (
        any(t.isdigit() for t in tokens) and bool(_DATE_WORD_FAST.search(text)))
    if not has_date:
        return False
    rest = _DATE_WORD_FAST.sub(" ", text)
    rest = _DATE_FILLER_FAST.sub(" ", rest)
    leftover = [t for t in words(rest) if not t.isdigit()]
    return len(leftover) <= DATE_LINE_MAX_EXTRA_TOKENS // 3


def byline_name(text: str) -> str | None:
    """'By Jane Doe' -> 'Jane Doe'; None unless the line is a short byline."""
    match = BYLINE_RE.match(text.strip())
    if not match:
        return None
    name = match["name"].strip(" ,")
    tokens = words(name)
    if not tokens or len(tokens) > 8 or not all(t[:1].isupper() or t.lower() in {
            "and", "y", "et", "und", "e", "de", "van", "von", "da", "del", "la", "le"}
            for t in tokens):
        return None
    return name


# ----------------------------------------------------------------------------- stop words
_STOPWORDS: dict[str, tuple[int, ...]] | None = None
_STOPLIST_NAMES: list[str] = []
_STOPWORDS_LOCK = threading.Lock()


def stopword_index() -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """word -> languages whose stop list holds it (each once); loaded once per process, lazily.

    One-letter words are left out: "U.S." gives the tokens "u" and "s", stop words in several
    Slavic lists, so one-letter tokens never vote."""
    global _STOPWORDS
    if _STOPWORDS is None:
        with _STOPWORDS_LOCK:
            if _STOPWORDS is None:
                import justext

                names = sorted(justext.get_stoplists())
                index: dict[str, list[int]] = {}
                for lang_id, name in enumerate(names):
                    for word in justext.get_stoplist(name):
                        ids = index.setdefault(word.lower(), [])
                        if lang_id not in ids:  # once per list, so votes count tokens
                            ids.append(lang_id)
                _STOPLIST_NAMES[:] = names
                _STOPWORDS = {w: tuple(ids) for w, ids in index.items() if len(w) > 1}
    return _STOPWORDS, _STOPLIST_NAMES


def _vote_ids(tokens: list[str]) -> list[int]:
    """The stop-word languages of the tokens, an id per (token, list holding it): a word counts
    for every list that holds it (splitting it would favour languages with unusual stop words
    over ones whose lists overlap, e.g. English and Simple English), so the number of times a
    language's id occurs (what `_stop_word_votes` counts) is the line's tokens in its stop list."""
    index, _ = stopword_index()
    return list(chain.from_iterable(map(index.get, tokens, repeat(()))))


# ----------------------------------------------------------------------------- lines
class LineFacts(NamedTuple):
    """What a line's text alone says, whatever page it is on. `clean_text` cleans a page's
    own output again until nothing changes (2.1 passes per dev page); these facts were 60% of
    a pass's cost, and a line keeps them from pass to pass (see `analyse_lines`' memo)."""

    tokens: list[str]
    lower: list[str]
    chars: int
    units: int
    terminal: bool
    bullet: bool
    # The languages of the line's stop words, a language once per token that is in its list.
    vote_ids: list[int]
    chrome_hits: int
    cookie: bool
    date_line: bool
    byline: bool


def line_facts(text: str, with_language: bool = True) -> LineFacts:
    """The page-independent facts of one line (stop-word votes only with_language)."""
    tokens = words(text)
    lower = [t.lower() for t in tokens]
    stripped = text.rstrip()
    folded = fold(text)
    vote_ids = _vote_ids(lower) if with_language else []
    return LineFacts(
        tokens, lower, len(stripped), word_units(text, tokens),
        stripped.endswith(TERMINAL_PUNCTUATION), bool(BULLET_RE.match(text)),
        vote_ids,
        len(_CHROME_WORDS_ASCII.findall(folded) if folded is not None else _CHROME_WORDS_FAST.findall(text)),
        caseless_search(_COOKIE_FAST, _COOKIE_ASCII, text, folded),
        _is_date_line(text, tokens),
        byline_name(text) is not None)


@dataclass(slots=True)  # 160 per page, built on each pass: slots make them cheaper to build and read
class LineInfo:
    text: str
    tokens: list[str]
    lower: list[str]
    chars: int
    units: int
    terminal: bool
    bullet: bool
    stop_share_page: float = 0.0
    stop_share_best: float = 0.0
    best_language: int = -1
    foreign: bool = False
    chrome_hits: int = 0
    cookie: bool = False
    date_line: bool = False
    byline: bool = False
    core: bool = False
    facts: LineFacts | None = field(default=None, repr=False, compare=False)


# A "core" line is unmistakably prose; the article sits around such lines.
CORE_MIN_TOKENS = 15
# Foreign-language lines must carry this many stop words, so names/short lines never qualify.
FOREIGN_MIN_STOPWORDS = 3
# ...and make up this share of the line (a long English line has a few Dutch stop words too).
FOREIGN_MIN_STOP_SHARE = 0.2
# ...or be sentence-long with not one stop word of the page's language.
FOREIGN_MIN_UNITS_NO_PAGE_WORDS = 6


def analyse_lines(lines: list[str], with_language: bool = True,
                  memo: dict[str, LineFacts] | None = None) -> tuple[list[LineInfo], int]:
    """Per-line facts and the page's majority language id (-1 when no stop words found).

    with_language=False skips the stop-word statistics (half the cost) for rule-only callers.
    `memo` (text -> LineFacts, for one with_language setting) lets passes over the same lines
    share their page-independent facts."""
    facts_of: dict[str, LineFacts] = {} if memo is None else memo
    infos = []
    for text in lines:
        facts = facts_of.get(text)
        if facts is None:
            facts = facts_of[text] = line_facts(text, with_language)
        infos.append(LineInfo(
            text=text, tokens=facts.tokens, lower=facts.lower, chars=facts.chars,
            units=facts.units, terminal=facts.terminal, bullet=facts.bullet,
            chrome_hits=facts.chrome_hits, cookie=facts.cookie, date_line=facts.date_line,
            byline=facts.byline, facts=facts))
    page_language, tops, most_voted, page_hits = _stop_word_votes([info.facts.vote_ids for info in infos])
    # A language's vote count is its number of stop-word tokens in the line; `top` is the
    # best language's, 0 for a line without stop words (which keeps best_language -1).
    for info, top, most, hits_page in zip(infos, tops, most_voted, page_hits):
        n = len(info.lower) or 1
        info.stop_share_page = hits_page / n
        if top:
            # Ties go to the page's language: a line is foreign only on positive evidence.
            info.best_language = page_language if hits_page == top else most
            info.stop_share_best = top / n
            info.foreign = info.best_language != page_language and (
                (top >= FOREIGN_MIN_STOPWORDS and top > 2 * hits_page and top >= FOREIGN_MIN_STOP_SHARE * n)
                # a sentence-length line with no stop word of the page language at all
                or (top >= 2 and hits_page == 0 and info.units >= FOREIGN_MIN_UNITS_NO_PAGE_WORDS))
        info.core = info.terminal and not info.foreign and info.units >= CORE_MIN_TOKENS
    return infos, page_language


# Lines whose votes are counted in one (lines x languages) table: ~0.8 MB for ~100 stop lists.
VOTE_BLOCK_LINES = 1024


def _stop_word_votes(vote_ids_per_line: list[list[int]]) -> tuple[int, list[int], list[int], list[int]]:
    """The page's language (the id with the most votes, the smallest on a tie; -1 without
    votes) and per line: its most votes for one language, the smallest language id with that
    many, and the page language's votes.

    Counted with numpy for the whole page at once: a Counter per line and one per page were
    ~15% of the text cleaner's time."""
    n = len(vote_ids_per_line)
    lengths = np.fromiter(map(len, vote_ids_per_line), dtype=np.intp, count=n)
    total = int(lengths.sum())
    if total == 0:
        return -1, [0] * n, [-1] * n, [0] * n
    ids = np.fromiter(chain.from_iterable(vote_ids_per_line), dtype=np.intp, count=total)
    languages = int(ids.max()) + 1
    page_language = int(np.bincount(ids, minlength=languages).argmax())  # argmax: the first of a tie
    line_of = np.repeat(np.arange(n, dtype=np.intp), lengths)
    tops: list[int] = []
    most_voted: list[int] = []
    page_hits: list[int] = []
    ends = np.cumsum(lengths)
    for first in range(0, n, VOTE_BLOCK_LINES):
        last = min(first + VOTE_BLOCK_LINES, n)
        start, stop = (int(ends[first - 1]) if first else 0), int(ends[last - 1])
        cells = (line_of[start:stop] - first) * languages + ids[start:stop]
        table = np.bincount(cells, minlength=(last - first) * languages).reshape(last - first, languages)
        tops += table.max(axis=1).tolist()
        most_voted += table.argmax(axis=1).tolist()
        page_hits += table[:, page_language].tolist()
    return page_language, tops, most_voted, page_hits


def rule_line_infos(lines: list[str]) -> list[LineInfo]:
    """LineInfo with only what the shape rules read (tokens, length, bullet, cookie, date and
    byline shapes): no stop-word statistics, chrome-word counts or prose core (left at their
    defaults). For the HTML post-cleaner, whose extracted paragraphs are long: counting their
    chrome words alone was a third of its cost."""
    infos = []
    for text in lines:
        tokens = words(text)
        stripped = text.rstrip()
        infos.append(LineInfo(
            text=text, tokens=tokens, lower=[t.lower() for t in tokens], chars=len(stripped),
            units=word_units(text, tokens), terminal=stripped.endswith(TERMINAL_PUNCTUATION),
            bullet=bool(BULLET_RE.match(text)),
            cookie=caseless_search(_COOKIE_FAST, _COOKIE_ASCII, text, fold(text)),
            date_line=_is_date_line(text, tokens), byline=byline_name(text) is not None))
    return infos


def _log(x: float) -> float:
    # x > 0 first: the common case without a max() call (0.5M calls per 319 pages); the
    # rest (0, negative, NaN) goes through the original expression
    return math.log1p(x) if x > 0 else math.log1p(max(x, 0.0))


FEATURE_NAMES = (
    "log_chars", "log_tokens", "terminal", "ends_colon", "commas_per_token",
    "stop_share_page", "stop_share_best", "foreign", "titlecase_share", "digit_share",
    "bullet", "separators", "chrome_hits", "cookie", "consent", "rel_position",
    "inside_core_span", "log_core_distance", "prev_log_tokens", "next_log_tokens",
    "prev_terminal", "next_terminal", "window_log_tokens", "window_terminal",
    "window_bullets", "window_chrome", "log_duplicates", "date_line", "byline",
    "copyright", "upper_share", "token_share_of_page", "mass_before", "url_or_email",
    "nonalnum_share", "log_tokens_vs_max", "question", "starts_lower", "image_label",
    "page_core_lines", "page_log_lines", "run_log_tokens",
    "after_comment_heading", "window_date_lines", "log_bullet_run",
)
WINDOW = 3

# ASCII characters that are neither str.isalnum() nor str.isspace() (\x1c-\x1f are spaces to
# Python), and the ASCII digits: what the share features count, found by str.translate in C
# instead of a Python test per character.
_ASCII_ALNUM_OR_SPACE = {code: None for code in range(128)
                         if chr(code).isalnum() or chr(code).isspace()}
_ASCII_NOT_DIGIT = {code: None for code in range(128) if not chr(code).isdigit()}


def _own_features(info: LineInfo) -> tuple[float, ...]:
    """The features that depend on the line alone: _OWN_FEATURES, in that order."""
    text = info.text
    folded = fold(text)
    ntok = info.units or 1
    alpha = [t for t in info.tokens if t[:1].isalpha()]
    # translate() drops, in C, the ASCII characters that do not count; what is left (the ASCII
    # ones that do, and every non-ASCII one) is tested one by one only when it is not all ASCII
    kept_digits = text.translate(_ASCII_NOT_DIGIT)
    digits = len(kept_digits) if kept_digits.isascii() else sum(map(str.isdigit, kept_digits))
    kept_symbols = text.translate(_ASCII_ALNUM_OR_SPACE)
    # no character is both alphanumeric and a space: the two counts do not overlap
    symbols = len(kept_symbols) if kept_symbols.isascii() else (
        len(kept_symbols) - sum(map(str.isalnum, kept_symbols)) - sum(map(str.isspace, kept_symbols)))
    return (
        _log(info.chars),
        float(info.terminal),
        float(text.rstrip().endswith(":")),
        (text.count(",") + text.count("、") + text.count("，")) / ntok,
        (len([t for t in alpha if t[0].isupper()]) / len(alpha)) if alpha else 0.0,
        digits / max(info.chars, 1),
        float(info.bullet),
        float(len(SEPARATOR_RE.findall(text))),
        float(info.chrome_hits),
        float(info.cookie),
        float(caseless_search(_CONSENT_FAST, _CONSENT_ASCII, text, folded)),
        float(info.date_line),
        float(info.byline),
        float(caseless_search(_COPYRIGHT_FAST, _COPYRIGHT_ASCII, text, folded)),
        (len([t for t in alpha if t.isupper() and len(t) > 1]) / len(alpha)) if alpha else 0.0,
        # the pattern needs "http", "www." or "@": most lines have none
        float(("http" in text or "www." in text or "@" in text) and bool(URL_OR_EMAIL_RE.search(text))),
        symbols / max(info.chars, 1),
        float(text.rstrip().endswith("?")),
        float(bool(text.lstrip()[:1].islower())),
        float(bool(IMAGE_LABEL_RE.match(text.strip()))),
    )


_OWN_FEATURES = ("log_chars", "terminal", "ends_colon", "commas_per_token",
                 "titlecase_share", "digit_share", "bullet", "separators", "chrome_hits",
                 "cookie", "consent", "date_line", "byline", "copyright", "upper_share",
                 "url_or_email", "nonalnum_share", "question", "starts_lower", "image_label")


def line_features(infos: list[LineInfo],
                  memo: dict[str, tuple[float, ...]] | None = None) -> list[list[float]]:
    """One feature vector (ordered as FEATURE_NAMES) per line.

    `memo` (text -> the line's own features) lets passes over the same lines share them."""
    n = len(infos)
    if n == 0:
        return []
    own_of: dict[str, tuple[float, ...]] = {} if memo is None else memo
    core_positions = [i for i, info in enumerate(infos) if info.core]
    first_core = core_positions[0] if core_positions else n
    last_core = core_positions[-1] if core_positions else -1
    duplicates = Counter(info.text.strip().lower() for info in infos)
    token_counts = [info.units for info in infos]
    total_tokens = sum(token_counts) or 1
    max_tokens = max(token_counts) or 1
    log_tokens = [_log(c) for c in token_counts]
    # Distance to the nearest core line, both directions, in lines.
    distance = [n] * n
    last = None
    for i in range(n):
        if infos[i].core:
            last = i
        if last is not None:
            distance[i] = i - last
    last = None
    for i in range(n - 1, -1, -1):
        if infos[i].core:
            last = i
        if last is not None:
            distance[i] = min(distance[i], last - i)
    # Length of the run of consecutive "long-ish" lines this line sits in.
    run_tokens = [0] * n
    start = 0
    while start < n:
        end = start
        if token_counts[start] >= 8:
            while end + 1 < n and token_counts[end + 1] >= 8:
                end += 1
            run = sum(token_counts[start:end + 1])
            for j in range(start, end + 1):
                run_tokens[j] = run
        start = end + 1
    # Lines after a comment-section heading that itself follows the first prose line.
    after_comments = [0.0] * n
    seen_heading = False
    for i, info in enumerate(infos):
        after_comments[i] = float(seen_heading)
        if i > first_core and info.units <= 6 and COMMENT_HEADING_RE.match(info.text.strip()):
            seen_heading = True
    # Length of the run of consecutive bullet lines: menus and link lists come in long runs.
    bullet_run = [0] * n
    i = 0
    while i < n:
        j = i
        while j < n and infos[j].bullet:
            j += 1
        for k in range(i, j):
            bullet_run[k] = j - i
        i = j + 1 if j == i else j
    # Window counts from prefix sums (exact: integers); the window's float mean of log_tokens
    # is summed over a slice in line order, as a generator over the neighbours would.
    prefix_terminal, prefix_bullet, prefix_chrome, prefix_date = [0], [0], [0], [0]
    for info in infos:
        prefix_terminal.append(prefix_terminal[-1] + info.terminal)
        prefix_bullet.append(prefix_bullet[-1] + info.bullet)
        prefix_chrome.append(prefix_chrome[-1] + (info.chrome_hits > 0))
        prefix_date.append(prefix_date[-1] + info.date_line)
    mass_before = 0
    page_core = _log(len(core_positions))
    page_lines = _log(n)
    rows = []
    for i, info in enumerate(infos):
        own = own_of.get(info.text)
        if own is None:
            own = own_of[info.text] = _own_features(info)
        (log_chars, terminal, ends_colon, commas, titlecase, digit_share, bullet,
         separators, chrome_hits, cookie, consent, date_line, byline, copyright, upper_share,
         url_or_email, nonalnum_share, question, starts_lower, image_label) = own
        lo, hi = max(0, i - WINDOW), min(n, i + WINDOW + 1)
        if hi - lo > 1:
            count = hi - lo - 1
            window_log_tokens = sum(log_tokens[lo:i] + log_tokens[i + 1:hi]) / count
            window_terminal = (prefix_terminal[hi] - prefix_terminal[lo] - info.terminal) / count
            window_bullets = (prefix_bullet[hi] - prefix_bullet[lo] - info.bullet) / count
            window_chrome = (prefix_chrome[hi] - prefix_chrome[lo] - (info.chrome_hits > 0)) / count
            window_dates = (prefix_date[hi] - prefix_date[lo] - info.date_line) / count
        else:  # a one-line page: the line is its own neighbourhood
            window_log_tokens = log_tokens[i] / 1
            window_terminal = info.terminal / 1
            window_bullets = info.bullet / 1
            window_chrome = (info.chrome_hits > 0) / 1
            window_dates = info.date_line / 1
        row = [
            log_chars,
            log_tokens[i],
            terminal,
            ends_colon,
            commas,
            info.stop_share_page,
            info.stop_share_best,
            float(info.foreign),
            titlecase,
            digit_share,
            bullet,
            separators,
            chrome_hits,
            cookie,
            consent,
            i / max(n - 1, 1),
            float(first_core <= i <= last_core),
            _log(distance[i]),
            log_tokens[i - 1] if i > 0 else 0.0,
            log_tokens[i + 1] if i + 1 < n else 0.0,
            float(infos[i - 1].terminal) if i > 0 else 0.0,
            float(infos[i + 1].terminal) if i + 1 < n else 0.0,
            window_log_tokens,
            window_terminal,
            window_bullets,
            window_chrome,
            _log(duplicates[info.text.strip().lower()] - 1),
            date_line,
            byline,
            copyright,
            upper_share,
            token_counts[i] / total_tokens,
            mass_before / total_tokens,
            url_or_email,
            nonalnum_share,
            token_counts[i] / max_tokens,
            question,
            starts_lower,
            image_label,
            page_core,
            page_lines,
            _log(run_tokens[i]),
            after_comments[i],
            window_dates,
            _log(bullet_run[i]),
        ]
        mass_before += token_counts[i]
        rows.append(row)
    return rows


def normalise_line(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


CONTEXT_FEATURE_NAMES = (
    "p_self", "p_prev", "p_next", "p_window3", "p_window10", "p_long_window5",
    "content_mass_before", "content_mass_after", "p_page_mean",
)
# Lines this long carry the evidence when judging a neighbourhood.
CONTEXT_LONG_UNITS = 8


def context_features(infos: list[LineInfo], probabilities: list[float]) -> list[list[float]]:
    """Second-stage features: what the first-stage model thinks of this line's surroundings.

    A menu entry inside the article and a sub-heading between paragraphs look alike alone; the
    verdicts on their neighbours tell them apart."""
    n = len(infos)
    if n == 0:
        return []
    probabilities = list(probabilities)  # sliced and joined below: must be a list, not an array
    units = [info.units for info in infos]
    mass = [p * u for p, u in zip(probabilities, units)]
    total_mass = sum(mass) or 1.0
    prefix = [0.0]
    for m in mass:
        prefix.append(prefix[-1] + m)
    page_mean = sum(probabilities) / n
    rows = []
    for i in range(n):
        def window_mean(radius: int) -> float:
            # slices keep the line order of the sum, so the float result is the same as
            # adding the neighbours one by one
            others = probabilities[max(0, i - radius):i] + probabilities[i + 1:i + radius + 1]
            return sum(others) / len(others) if others else 0.0
        lo, hi = max(0, i - 5), min(n, i + 6)
        long_ps = [probabilities[j] for j in range(lo, hi)
                   if j != i and units[j] >= CONTEXT_LONG_UNITS]
        rows.append([
            probabilities[i],
            probabilities[i - 1] if i > 0 else 0.0,
            probabilities[i + 1] if i + 1 < n else 0.0,
            window_mean(3),
            window_mean(10),
            max(long_ps) if long_ps else 0.0,
            prefix[i] / total_mass,
            (total_mass - prefix[i + 1]) / total_mass,
            page_mean,
        ])
    return rows
