"""Plain-text boilerplate cleaner: keep a web page's article lines, drop the site chrome.

Input is the whole visible text of a page (what a browser copy gives, see
`transforms.render.render_visible_text`): one block per line, blank lines ignored. Every
non-empty line is classified from per-page evidence only (`transforms.cleanfeatures`): its
length, punctuation, stop-word share in the page's majority language (jusText's 100 stop
lists), whether it is in another language, bullet/link-list and separator shapes, multilingual
chrome words, date and byline shapes, position relative to the page's prose core, and its
neighbours. A small gradient-boosted tree model (`transforms/models/line_model.json`, trained
by `bench/train_cleaner.py`, evaluated with numpy) weighs these; a few high-precision rules
name the cases a reader would name, and pull out title, author and date.

Reason codes recorded in `CleanResult.removed`:
- `title`           the headline (moved to `CleanResult.title`).
- `byline`          "By Jane Doe" (the name goes to `CleanResult.author`).
- `date`            a line that is only a date/time ("Monday, October 7", "Dec 27, 2023, 5 PM");
                    the first full date in the page header goes to `CleanResult.published`.
- `image_label`     avatar/photo alt text ("Avatar of Jane Doe").
- `cookie_notice`   a line naming cookies next to consent words or in another language than
                    the page, any model-rejected line naming cookies, and the banner's adjacent
                    rejected lines in its language.
- `chrome_phrase`   a short line made of site-furniture phrases ("Leave a Comment",
                    "Scroll to Top", "Related Articles", the comment form's e-mail notice).
- `editor_slug`     a desk/editor code: a line like "csr/mcd", or "(JO)" stripped from the end
                    of an article line (the line stays, minus the slug).
- `author_bio`      "Jane is a journalist who ..." blurb after the article.
- `foreign_language` a line whose stop words say it is in another language than the page.
- `link_list`       a bullet/list entry the model rejected (menus, "read more" lists), or any
                    bullet run right under a `chrome_phrase` line ("Keep reading:").
- `chrome_short`    a short line (<= CHROME_SHORT_MAX_TOKENS words) the model rejected, or a
                    line of one or two characters (icon labels such as "X", "f").
- `model`           any other line the model rejected.

Lines are kept verbatim (stripped of surrounding white space); an editor slug is the only edit.
A short line between two confident prose lines is kept as a sub-heading whatever the model says.
Pages of more than MAX_LINES_FOR_MODEL lines are scored by a simple rule instead of the model.
"""
from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from transforms.cleanfeatures import (
    CONSENT_RE, IMAGE_LABEL_RE, LineFacts, LineInfo, analyse_lines, ascii_twin, byline_name,
    caseless_search, context_features, fold, line_features, parse_date, rule_line_infos, words)
from transforms.records import CleanResult, RemovedLine

MODEL_PATH = Path(__file__).with_name("models") / "line_model.json"
# Probability above which the model keeps a line; 0.5 is the Bayes choice for weighted labels.
KEEP_THRESHOLD = 0.5
# Walking 200 trees per line in Python costs ~0.1 ms; past this many lines (not a real page)
# fall back to the rule score so that pathological input stays fast.
MAX_LINES_FOR_MODEL = 20_000
# A line this short that the model drops is reported as chrome_short.
CHROME_SHORT_MAX_TOKENS = 4
# One or two characters alone on a line are an icon label ("X", "f", "in"), never prose.
CHROME_TINY_MAX_CHARS = 2
# A short line between two confident prose lines is a sub-heading, whatever the model says.
SUBHEADING_MAX_UNITS = 10
SUBHEADING_NEIGHBOUR_MIN_PROBABILITY = 0.8
# Site-furniture phrases are only chrome when the line is short; in a paragraph they are prose.
CHROME_PHRASE_MAX_TOKENS = 14
# Headline: searched among the lines just before the article body.
TITLE_LOOKBACK_LINES = 8
TITLE_MIN_TOKENS = 3
TITLE_MAX_TOKENS = 30
# The published date must appear near the top of the article, not in a related-articles list.
DATE_LOOKBACK_LINES = 12

# Phrases that are page furniture in any context when they make up a short line. Each is
# generic web/CMS vocabulary in several languages, not a string from one site.
CHROME_PHRASE_RE = re.compile(
    r"^(?:[*•·\-–—>»]\s*)?(?:"
    r"leave a (?:comment|reply)|post a comment|add a comment|\d*\s*comments?|no comments?|"
    r"your email address will not be published|required fields are marked|"
    r"(?:scroll|back|go|return) to (?:the )?top(?: button)?|skip to (?:main )?content|"
    r"related (?:articles|posts|stories|news|content|topics)|you may also like|"
    r"recommended(?: for you| stories| articles)?|more (?:stories|news|articles) from|"
    r"keep reading|continue reading|read more|read also|see also|also read|"
    r"share (?:this|on|via)|share|tweet|pin it|print(?: this)?|e-?mail(?: this)?|copy link|"
    r"subscribe(?: now| to (?:our|the) newsletter)?|sign up(?: now| for (?:our|the) newsletter)?|"
    r"sign in|log in|newsletter|follow us(?: on \w+)?|advertisement|sponsored(?: content)?|"
    r"deja un comentario|dejar un comentario|comentarios|lee también|leer más|"
    r"noticias relacionadas|art[íi]culos relacionados|compartir|suscríbete|volver arriba|"
    r"laisser un commentaire|lire aussi|à lire aussi|articles similaires|partager|"
    r"kommentar schreiben|lesen sie auch|mehr zum thema|teilen|nach oben|"
    r"lascia un commento|leggi anche|articoli correlati|condividi|"
    r"deixe um comentário|leia também|compartilhe|"
    r"yorum yap|ilgili haberler|paylaş|başa dön"
    r")\b[\s:.!…>»|]*$",
    re.I)
COMMENT_FORM_RE = re.compile(
    r"(?:email address will not be published|required fields are marked|"
    r"tu dirección de correo electrónico no será publicada|"
    r"votre adresse (?:e-mail|de messagerie) ne sera pas publiée|"
    r"ihre e-mail-adresse wird nicht veröffentlicht|"
    r"il tuo indirizzo email non sarà pubblicato|"
    r"o seu endereço de e-mail não será publicado)",
    re.I)
_COMMENT_FORM_ASCII = ascii_twin(COMMENT_FORM_RE)
EDITOR_SLUG_LINE_RE = re.compile(r"^[a-z]{2,5}(?:/[a-z]{2,5})+$")
# "(JO)" after the final sentence: an editor's initials, not part of the text.
TRAILING_SLUG_RE = re.compile(r"(?<=[.!?\"”’'])\s+\((?:[A-Z]{1,5})(?:[/-][A-Z]{1,5})*\)$")
AUTHOR_BIO_RE = re.compile(
    r"^[A-Z][\w.'’\-]+(?:\s+[A-Z][\w.'’\-]+){0,3}\s+(?:is|was|has been)\s+(?:a|an|the|our)\s+"
    r"(?:[\w\-]+\s+){0,8}(?:author|writer|journalist|reporter|editor|contributor|"
    r"correspondent|columnist|freelancer|blogger)\b"
    r"|^[A-ZÁÉÍÓÚ][\w.'’\-]+(?:\s+[A-Z][\w.'’\-]+){0,3}\s+(?:es|est|ist|è|é)\s+"
    r"(?:une?|una?|ein(?:e)?|um(?:a)?)?\s*(?:[\w\-]+\s+){0,6}"
    r"(?:periodista|journaliste|journalist(?:in)?|giornalista|jornalista|redakteur(?:in)?|"
    r"escritora?|écrivain|autora?|auteure?|autor(?:in)?)\b",
    re.I)

_MODEL: dict | None = None
_MODEL_LOCK = threading.Lock()


def load_model() -> dict | None:
    """The shipped line model, read once per process (None if the file is missing)."""
    global _MODEL
    if _MODEL is None:
        with _MODEL_LOCK:
            if _MODEL is None:
                try:
                    _MODEL = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
                except FileNotFoundError:
                    _MODEL = {}
    return _MODEL or None


def model_probability(model: dict, row: list[float]) -> float:
    """P(content) from exported gradient-boosted trees (binary log-loss, shrinkage baked in).

    The reference walk, one row at a time; `model_probabilities` gives the same numbers for a
    whole page at once and is what the cleaner uses."""
    raw = model["init"]
    for tree in model["trees"]:
        feature, threshold = tree["feature"], tree["threshold"]
        left, right = tree["left"], tree["right"]
        node = 0
        while left[node] != -1:
            node = left[node] if row[feature[node]] <= threshold[node] else right[node]
        raw += tree["value"][node]
    return _sigmoid(raw)


def _sigmoid(raw: float) -> float:
    if raw < -35:
        return 0.0
    return 1.0 / (1.0 + math.exp(-raw))


class TreeEnsemble:
    """The trees of one model stage compiled to score a whole page at once; probabilities are
    bit-identical to the reference walk `model_probability`.

    Why not walk the trees: a padded numpy walk of all lines down all 300 trees needed 19-22
    gather steps (the deepest tree) and cost ~8 ms per page and stage, the largest single cost
    of the text cleaner. The trees are scored the QuickScorer way instead (Lucchese et al.,
    SIGIR 2015): leaves are numbered left to right, a split whose test `x <= threshold` fails
    rules out the leaves of its left subtree, and the leaf a walk ends in is the leftmost one
    not ruled out. Per feature, the splits a value fails are those with the smallest
    thresholds, so one `searchsorted` finds them and a precomputed table row holds, per tree,
    the leaves they leave possible: one table lookup per feature instead of a walk (~1.9 ms per
    page and stage on the dev pages, 4x faster). Leaf values are then added in the reference
    walk's order.

    Features with few thresholds (the flags, the small counts) share one lookup: their ranks
    combine into one index into a table of the ANDs of their rows, built here once, so a page
    costs 25 lookups instead of 44 in stage 1 and 33 instead of 51 in stage 2.
    """

    def __init__(self, stage: dict) -> None:
        trees = stage["trees"]
        self.init = float(stage["init"])
        self.n_trees = len(trees)
        leaf_nodes: list[list[int]] = []
        # feature -> [(threshold, tree, mask of the leaves ruled out when the test fails)]
        splits: dict[int, list[tuple[float, int, int]]] = {}
        for tree_index, tree in enumerate(trees):
            leaves, left_subtree_leaves = _leaf_masks(tree["left"], tree["right"])
            leaf_nodes.append(leaves)
            for node, ruled_out in left_subtree_leaves.items():
                splits.setdefault(tree["feature"][node], []).append(
                    (tree["threshold"][node], tree_index, ruled_out))
        most_leaves = max((len(leaves) for leaves in leaf_nodes), default=1)
        if most_leaves > MAX_LEAVES_PER_TREE:
            raise ValueError(f"a tree has {most_leaves} leaves; the leaf masks hold {MAX_LEAVES_PER_TREE}")
        self.mask_dtype = np.uint32 if most_leaves <= 32 else np.uint64
        self.all_leaves = self.mask_dtype(np.iinfo(self.mask_dtype).max)
        stride = np.iinfo(self.mask_dtype).bits
        values = np.zeros((self.n_trees, stride), dtype=np.float64)
        for tree_index, (tree, leaves) in enumerate(zip(trees, leaf_nodes)):
            values[tree_index, :len(leaves)] = [tree["value"][node] for node in leaves]
        self.leaf_value = values.ravel()
        self.tree_offset = np.arange(self.n_trees, dtype=np.intp) * stride
        # Per feature: its distinct thresholds ascending, and table[k, tree] = the leaves of
        # `tree` still possible once the value is above the k smallest of them.
        tables: list[tuple[int, np.ndarray, np.ndarray]] = []
        for feature in sorted(splits):
            entries = splits[feature]
            thresholds = np.unique(np.array([entry[0] for entry in entries], dtype=np.float64))
            if np.isnan(thresholds).any():  # sorted last, it would send NaN values left, unlike the walk
                raise ValueError(f"feature {feature} has a NaN threshold")
            table = np.full((len(thresholds) + 1, self.n_trees), self.all_leaves, dtype=self.mask_dtype)
            ranks = np.searchsorted(thresholds, [entry[0] for entry in entries]).tolist()
            for (_, tree_index, ruled_out), rank in zip(entries, ranks):
                table[rank + 1:, tree_index] &= self.all_leaves ^ self.mask_dtype(ruled_out)
            tables.append((feature, thresholds, table))
        self.lookups = _combined_lookups(tables, self.n_trees, self.mask_dtype)

    def probabilities(self, rows: list[list[float]]) -> list[float]:
        if not rows:
            return []
        x = np.asarray(rows, dtype=np.float64)
        return [_sigmoid(value) for start in range(0, len(x), ROWS_PER_BLOCK)
                for value in self._raw_scores(x[start:start + ROWS_PER_BLOCK]).tolist()]

    def _raw_scores(self, x: np.ndarray) -> np.ndarray:
        possible = np.full((len(x), self.n_trees), self.all_leaves, dtype=self.mask_dtype)
        for lookup in self.lookups:
            # ndarray methods, not np.take / np.searchsorted: the functions' Python dispatch
            # (~320 calls a text page) cost 2-3% of the page: 0.29-0.39 ms, ~1 us a call
            possible &= lookup.table.take(lookup.table_index(x), axis=0)
        lowest = possible & (~possible + self.mask_dtype(1))
        leaf = np.frexp(lowest.astype(np.float64))[1] - 1  # exact: a power of two
        # One row per tree, one column per line, and two columns at least: NumPy sums an axis
        # that is not the fast one in memory by adding its entries one at a time, here in tree
        # order as the walk does; along the fast axis (the tree axis, were there one column)
        # it adds pairwise, which can differ in the last bit.
        lines = len(x)
        terms = np.zeros((self.n_trees + 1, max(lines, 2)), dtype=np.float64)
        terms[0, :lines] = self.init
        terms[1:, :lines] = self.leaf_value.take((leaf + self.tree_offset).T)
        return np.add.reduce(terms, axis=0)[:lines]


# Rows of a combined lookup table at most: 1.2 MB for 300 trees of 32-bit masks, cache-sized.
COMBINED_LOOKUP_MAX_ROWS = 1024


class _Lookup(NamedTuple):
    """One table lookup per line: the features it covers, their thresholds, and per feature
    the stride of its rank in the combined row index (the last feature's is 1)."""

    features: tuple[int, ...]
    thresholds: tuple[np.ndarray, ...]
    strides: tuple[int, ...]
    table: np.ndarray

    def table_index(self, x: np.ndarray) -> np.ndarray:
        """Per line of x, the row of `table` its values select."""
        index = None
        for feature, thresholds, stride in zip(self.features, self.thresholds, self.strides):
            # side="left" counts the thresholds below the value: one equal to the value passes
            # `x <= threshold`, as in the walk (and NaN, sorted last, fails every test).
            rank = thresholds.searchsorted(x[:, feature], side="left")
            if stride != 1:
                rank *= stride
            index = rank if index is None else index + rank
        return index


def _combined_lookups(tables: list[tuple[int, np.ndarray, np.ndarray]], n_trees: int,
                      mask_dtype: type[np.unsignedinteger]) -> list[_Lookup]:
    """Per-feature tables (feature, thresholds, table[rank, tree]) packed into lookups: features
    with the fewest thresholds first, grouped while the product of their rank counts stays
    within COMBINED_LOOKUP_MAX_ROWS; the rest keep a table each."""
    groups: list[list[tuple[int, np.ndarray, np.ndarray]]] = []
    group_rows = 0
    for entry in sorted(tables, key=lambda entry: (len(entry[2]), entry[0])):
        if not groups or group_rows * len(entry[2]) > COMBINED_LOOKUP_MAX_ROWS:
            groups.append([])
            group_rows = 1
        groups[-1].append(entry)
        group_rows *= len(entry[2])
    lookups = []
    for group in groups:
        combined = np.full((1, n_trees), np.iinfo(mask_dtype).max, dtype=mask_dtype)
        for _, _, table in group:  # the first feature's rank varies slowest
            combined = (combined[:, None, :] & table[None, :, :]).reshape(-1, n_trees)
        sizes = [len(table) for _, _, table in group]
        strides = tuple(math.prod(sizes[i + 1:]) for i in range(len(group)))
        lookups.append(_Lookup(tuple(entry[0] for entry in group), tuple(entry[1] for entry in group),
                               strides, np.ascontiguousarray(combined)))
    return lookups


# Leaf masks are one machine word per tree; the trainer grows trees of at most 31 leaves.
MAX_LEAVES_PER_TREE = 64
# Lines scored together: a real page fits in one block; a 20,000-line one would otherwise
# hold ~100 MB of per-line, per-tree temporaries at once.
ROWS_PER_BLOCK = 2048


def _leaf_masks(left: list[int], right: list[int]) -> tuple[list[int], dict[int, int]]:
    """A tree's leaf nodes from left to right, and per split the bit mask (bit i = i-th leaf
    in that order) of the leaves in its left subtree."""
    leaves: list[int] = []
    masks: dict[int, int] = {}

    def visit(node: int) -> tuple[int, int]:  # the [first, last + 1) leaf numbers under node
        if left[node] == -1:
            leaves.append(node)
            return len(leaves) - 1, len(leaves)
        first, middle = visit(left[node])
        _, end = visit(right[node])
        masks[node] = ((1 << (middle - first)) - 1) << first
        return first, end

    visit(0)
    return leaves, masks


# Keyed by id() and holding the stage itself, so an id cannot be reused by another model while
# cached; bounded because cross-validation builds a model per fold.
_ENSEMBLES: dict[int, tuple[dict, TreeEnsemble]] = {}
_MAX_CACHED_MODELS = 8


def model_probabilities(stage: dict, rows: list[list[float]]) -> list[float]:
    """P(content) for every row, from the stage's trees compiled once per process."""
    cached = _ENSEMBLES.get(id(stage))
    if cached is None or cached[0] is not stage:
        with _MODEL_LOCK:
            if len(_ENSEMBLES) >= _MAX_CACHED_MODELS:
                _ENSEMBLES.clear()
            cached = _ENSEMBLES[id(stage)] = (stage, TreeEnsemble(stage))
    return cached[1].probabilities(rows)


def rule_probability(info: LineInfo, row: list[float]) -> float:
    """Fallback score without the model: prose-like lines inside the page's prose core."""
    inside_core_span = row[16] > 0
    if info.core:
        return 0.9
    if info.terminal and info.units >= 8 and inside_core_span and not info.bullet:
        return 0.7
    return 0.1


def split_lines(text: str) -> list[str]:
    """Non-empty lines, stripped; the unit the classifier works on."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _rule_reason(info: LineInfo) -> str | None:
    """The reason for dropping a line on its own shape, whatever the model says."""
    text = info.text
    ntok = info.units
    if info.byline:
        return "byline"
    if len(text) <= CHROME_TINY_MAX_CHARS:
        return "chrome_short"
    if info.date_line:
        return "date"
    if IMAGE_LABEL_RE.match(text) and ntok <= 8:
        return "image_label"
    if EDITOR_SLUG_LINE_RE.match(text):
        return "editor_slug"
    if ntok <= 2 * CHROME_PHRASE_MAX_TOKENS and caseless_search(
            COMMENT_FORM_RE, _COMMENT_FORM_ASCII, text, fold(text)):
        return "chrome_phrase"
    if ntok <= CHROME_PHRASE_MAX_TOKENS and CHROME_PHRASE_RE.match(text):
        return "chrome_phrase"
    if info.cookie and (CONSENT_RE.search(text) or info.foreign):
        return "cookie_notice"
    if AUTHOR_BIO_RE.match(text):
        return "author_bio"
    return None


def _model_reason(info: LineInfo) -> str:
    if info.cookie:
        return "cookie_notice"
    if info.foreign:
        return "foreign_language"
    if info.bullet:
        return "link_list"
    if info.units <= CHROME_SHORT_MAX_TOKENS:
        return "chrome_short"
    return "model"


def _is_subheading(infos: list[LineInfo], probabilities: list[float], keep: list[bool],
                   i: int) -> bool:
    info = infos[i]
    before, after = i - 1, i + 1
    return (0 < info.units <= SUBHEADING_MAX_UNITS and not info.bullet and not info.terminal
            and not info.text.rstrip().endswith(":") and info.chrome_hits == 0
            and keep[before] and keep[after] and infos[before].core and infos[after].core
            and min(probabilities[before], probabilities[after]) >= SUBHEADING_NEIGHBOUR_MIN_PROBABILITY)


def _is_title_shaped(info: LineInfo) -> bool:
    ntok = info.units
    text = info.text.rstrip()
    return (TITLE_MIN_TOKENS <= ntok <= TITLE_MAX_TOKENS and not info.bullet
            and not text.endswith((".", ",", ":", ";")) and not info.date_line
            and not info.byline and not info.cookie
            and not IMAGE_LABEL_RE.match(info.text) and not CHROME_PHRASE_RE.match(info.text))


def _find_title(infos: list[LineInfo], reasons: list[str | None], first_body: int) -> int | None:
    """Index of the headline: the nearest title-shaped line before (or at) the body start."""
    if first_body + 1 < len(infos) and _is_title_shaped(infos[first_body]) \
            and not infos[first_body].core and infos[first_body + 1].core:
        return first_body
    for i in range(first_body - 1, max(-1, first_body - 1 - TITLE_LOOKBACK_LINES), -1):
        if reasons[i] in ("byline", "date", "image_label"):
            continue
        if _is_title_shaped(infos[i]) and infos[i].chrome_hits == 0:
            return i
    return None


class LineMemo:
    """What one `clean_text` call learns about its lines (their page-independent facts and
    own features), kept for the later passes over the same lines."""

    def __init__(self) -> None:
        self.facts: dict[str, LineFacts] = {}
        self.own_features: dict[str, tuple[float, ...]] = {}


def classify_lines(lines: list[str], model: dict | None, memo: LineMemo | None = None
                   ) -> tuple[list[LineInfo], list[float]]:
    """Per-line facts and P(content): stage 1 on the line's own features, stage 2 (when the
    model has one) adds the stage-1 verdicts on the line's neighbours."""
    memo = memo or LineMemo()
    infos, _ = analyse_lines(lines, memo=memo.facts)
    rows = line_features(infos, memo=memo.own_features)
    if model is None or len(lines) > MAX_LINES_FOR_MODEL:
        return infos, [rule_probability(info, row) for info, row in zip(infos, rows)]
    probabilities = model_probabilities(model["stage1"], rows)
    if model.get("stage2"):
        context = context_features(infos, probabilities)
        probabilities = model_probabilities(model["stage2"], [row + extra for row, extra in zip(rows, context)])
    return infos, probabilities


# Passes of the line classifier over a page's own output before it is taken as final (see clean_text).
MAX_CLEAN_PASSES = 8


def clean_text(text: str, *, model: dict | None = None) -> CleanResult:
    """Clean a plain-text page dump to its article; never raises on string input.

    The classifier looks at each line's neighbours, so removing chrome can change the verdict
    on a line next to it: on the dev sets about 6% of pages lose more lines (mostly leftover
    chrome: "% 250 votes", "Report issues to FDA") when their cleaned body is cleaned again.
    Cleaning must be idempotent (re-running the pipeline on its own output changes nothing), so
    the body is cleaned again until it is a fixed point; each pass only removes lines, so this
    ends, normally after one extra pass over the (short) body. Title, byline and date come from
    the first pass, which saw the whole page.

    `model` overrides the shipped line model (used by cross-validation); default: shipped one.
    """
    model = model if model is not None else load_model()
    # A later pass sees the lines the previous one kept (less any trailing editor slug); their
    # own facts are computed once (pass 2 then costs ~1/4 of pass 1 instead of ~1/2).
    memo = LineMemo()
    result = _clean_once(text, model, memo)
    for _ in range(MAX_CLEAN_PASSES - 1):
        if not result.paragraphs:
            break
        again = _clean_once(result.text, model, memo)
        if again.paragraphs == result.paragraphs:
            break
        result = CleanResult(title=result.title, author=result.author, published=result.published,
                             paragraphs=again.paragraphs, removed=result.removed + _dropped(result, again))
    return result


def _dropped(before: CleanResult, after: CleanResult) -> tuple[RemovedLine, ...]:
    """Lines of `before`'s body that a later pass removed, with that pass's reasons."""
    gone = set(before.paragraphs) - set(after.paragraphs)
    return tuple(r for r in after.removed if r.text in gone)


def _clean_once(text: str, model: dict | None, memo: LineMemo) -> CleanResult:
    """One pass of the line classifier over a page."""
    lines = split_lines(text if isinstance(text, str) else "")
    if not lines:
        return CleanResult(title=None, author=None, published=None, paragraphs=(), removed=())
    infos, probabilities = classify_lines(lines, model, memo)
    n = len(lines)
    reasons: list[str | None] = [_rule_reason(info) for info in infos]
    # The bullet list under a "Keep reading:" / "Related Articles" heading is links, not text.
    for i in range(n - 1):
        if reasons[i] == "chrome_phrase":
            j = i + 1
            while j < n and infos[j].bullet and reasons[j] is None:
                reasons[j] = "link_list"
                j += 1
    keep = [reasons[i] is None and probabilities[i] >= KEEP_THRESHOLD for i in range(n)]
    for i in range(1, n - 1):
        if not keep[i] and reasons[i] is None and _is_subheading(infos, probabilities, keep, i):
            keep[i] = True
    for i in range(n):
        if reasons[i] is None and not keep[i]:
            reasons[i] = _model_reason(infos[i])

    # A cookie banner is several lines; its other lines share the banner's language and are
    # dropped anyway, so name them for what they are.
    for i in range(n):
        if reasons[i] == "cookie_notice":
            for step in (-1, 1):
                j = i + step
                while 0 <= j < n and not keep[j] and reasons[j] in ("foreign_language", "model") \
                        and infos[j].best_language == infos[i].best_language:
                    reasons[j] = "cookie_notice"
                    j += step

    first_body = next((i for i in range(n) if keep[i]), n)
    title_index = _find_title(infos, reasons, first_body)
    title = None
    if title_index is not None:
        title = lines[title_index]
        keep[title_index] = False
        reasons[title_index] = "title"
        first_body = next((i for i in range(n) if keep[i]), n)

    author = None
    published = None
    header_start = max(0, (title_index if title_index is not None else first_body)
                       - DATE_LOOKBACK_LINES)
    for i in range(n):
        if reasons[i] == "byline" and author is None and i <= first_body + DATE_LOOKBACK_LINES:
            author = byline_name(lines[i])
        if reasons[i] == "date" and published is None and header_start <= i <= first_body:
            published = parse_date(lines[i])

    paragraphs: list[str] = []
    removed: list[RemovedLine] = []
    for i, line in enumerate(lines):
        if not keep[i]:
            removed.append(RemovedLine(line, reasons[i] or "model"))
            continue
        slug = TRAILING_SLUG_RE.search(line)
        if slug:
            removed.append(RemovedLine(slug.group(0).strip(), "editor_slug"))
            line = line[:slug.start()].rstrip()
        paragraphs.append(line)
    return CleanResult(title=title, author=author, published=published,
                       paragraphs=tuple(paragraphs), removed=tuple(removed))


# Share of the longer headline the shorter must cover ("Title" vs "Title | Site Name").
HEADLINE_MIN_COVERAGE = 0.6


def _same_headline(line_tokens: list[str], title_tokens: list[str] | None) -> bool:
    if not line_tokens or not title_tokens:
        return False
    if line_tokens == title_tokens:
        return True
    shorter, longer = sorted((line_tokens, title_tokens), key=len)
    joined_short, joined_long = " ".join(shorter), " " + " ".join(longer) + " "
    return f" {joined_short} " in joined_long and len(shorter) >= HEADLINE_MIN_COVERAGE * len(longer)


def post_clean_lines(lines: list[str], title: str | None = None
                     ) -> tuple[list[str], list[RemovedLine]]:
    """Rule-only pass for lines an HTML extractor already chose (no model: its features
    describe whole-page dumps, not extracted bodies). Drops the headline when repeated as the
    first line, and lines with a named chrome shape; strips trailing editor slugs."""
    lines = [line.strip() for line in lines if line and line.strip()]
    if not lines:
        return [], []
    infos = rule_line_infos(lines)
    title_tokens = words(title.lower()) if title else None
    kept: list[str] = []
    removed: list[RemovedLine] = []
    for i, (line, info) in enumerate(zip(lines, infos)):
        reason = _rule_reason(info)
        if reason in ("date", "byline") and 2 < i < len(lines) - 2:
            reason = None  # mid-body, a short date-like line may be a real list item
        if reason is None and i <= 1 and not kept and _same_headline(info.lower, title_tokens):
            reason = "title"
        if reason:
            removed.append(RemovedLine(line, reason))
            continue
        slug = TRAILING_SLUG_RE.search(line)
        if slug:
            removed.append(RemovedLine(slug.group(0).strip(), "editor_slug"))
            line = line[:slug.start()].rstrip()
        kept.append(line)
    return kept, removed
