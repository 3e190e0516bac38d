"""Near-duplicate logic on plain strings and records, free of Beam.

Two renderings of one wire story (a trim, a re-edit, or two translations by different hands)
share few word n-grams (seed 000 vs 004: word 5-shingle Jaccard about 0.08) but many *sentences*
that say the same thing with mostly the same content words and names. So:

- candidates come from sentence fingerprints: each sentence's content-word set is MinHashed and
  cut into LSH bands; two documents become a candidate pair when any band of any sentence
  collides (plus a document-level band on all content words, for texts without sentence
  structure). Keys are grouped in Beam, never compared all-pairs.
- each candidate pair is verified by the share of sentences of the shorter document that have a
  close fuzzy match in the other (content-word containment), which separates translations of one
  article from other articles on the same event: those share names and figures, not sentences.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import threading
import unicodedata
import zlib
from typing import Iterable, Iterator, Sequence

import numpy as np

_WORD = re.compile(r"\w+")
# A sentence ends at ., !, ? or an ellipsis followed by space, or at a CJK full stop.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)\]]*\s+|(?<=[。！？])")

_MERSENNE = (1 << 61) - 1
_MAX_HASH = (1 << 32) - 1


@dataclasses.dataclass(frozen=True)
class NearDupConfig:
    """Thresholds, each explained by what it separates (measured on wmt-dev, see bench/dedup.py)."""

    # Sentence fingerprints: a sentence needs this many content words to carry evidence ("He
    # said so." matches everywhere).
    min_sentence_words: int = 4
    # LSH over a sentence's content words: rows per band and bands. Two sentences with content
    # Jaccard J collide with probability 1 - (1 - J^rows)^bands: 0.94 at J=0.5, 0.61 at 0.3,
    # 0.1 at 0.1; a pair of documents sharing several such sentences almost surely does.
    sentence_rows: int = 2
    sentence_bands: int = 10
    # Only the first this many informative sentences make keys: copies and translations share
    # their lead (trims cut the end), and two long pages on one topic otherwise always have some
    # colliding sentence pair among their hundreds x hundreds.
    key_sentences: int = 20
    # Document-level LSH on all content words, for texts with little sentence structure and
    # copies whose sentences were reordered.
    doc_rows: int = 4
    doc_bands: int = 16
    # Two documents meeting in a document-level band are paired only when their whole-document
    # Jaccard, estimated from 1-byte sketches of their 64 minima, reaches this: on wmt-dev the
    # true pairs' Jaccard has its 10th percentile at 0.22, unrelated pairs their 99.9th at 0.15
    # (long synthetic pages share more common words: median 0.12). Without it, chance band
    # collisions (Jaccard 0.1 collides with probability 0.0016 per pair) made the verified
    # pairs per document grow with the corpus. 0.25 lost wmt-dev pairs (recall 0.924 -> 0.919).
    doc_min_jaccard: float = 0.2
    # A key shared by more documents than this pairs each of them with only `bucket_fan_out`
    # others (neighbours in an order drawn from the key itself) instead of with all: a sentence
    # many pages share (chrome the cleaner kept, a boilerplate line, common words colliding by
    # chance) would otherwise make the pairs per document grow with the corpus. Copies of one
    # story share dozens of keys, each with its own order, so they still meet many times.
    max_bucket: int = 8
    bucket_fan_out: int = 3
    # Two sentences match when the Dice overlap of their content words reaches this. Containment
    # of the smaller one was too loose: a sentence naming the same people matched.
    sentence_match: float = 0.5
    # A sentence's best Dice below this counts as no match at all: on long pages some sentence
    # of the other page always overlaps by chance, which inflated scores of unrelated pages.
    sentence_floor: float = 0.4
    # A candidate pair is a near duplicate when the (boilerplate-weighted) mean best-match score
    # of the shorter document's sentences reaches this. Seeds: the two renderings of one wire
    # story 0.38; other articles on the same event 0.0-0.09. wmt-dev (noisy) with linkage: 0.3
    # gave pairwise P 0.98 / R 0.93, 0.35 gave 0.98 / 0.90.
    min_similarity: float = 0.3
    # ...and at least this many sentences match, so two three-line stubs sharing one line are not
    # called copies of each other.
    min_matched_sentences: int = 2
    # ...unless one page has a single informative sentence: then it must match with this Dice.
    single_sentence_similarity: float = 0.6
    # A candidate pair is verified only when at least this share of the shorter document's
    # informative sentences collided in some LSH band (and at least min_matched_sentences did).
    min_collision_share: float = 0.25
    # Two clusters merge only when this share of the pairs across them are verified edges.
    min_linkage: float = 0.3
    # ...or when each member of the smaller one has this many verified edges into the larger on
    # average: a story republished 120 times is verified against a few partners per key (see
    # max_bucket), never against 30% of a 100-copy cluster, and split into 25 clusters without
    # it. One wrong edge still joins nothing but two single pages.
    linkage_edges_per_member: int = 3
    # A sentence held by more documents than this weighs common_sentence / count: chrome the
    # cleaner kept recurs on dozens of pages, while a story's sentences recur only in its copies.
    common_sentence: int = 4
    # LSH keys and colliding pairs are grouped in this many partitions, a document's keys (and
    # a partition's pairs) packed into one bytes object per partition, instead of one group
    # per key: almost every key is held by one document only, and the in-memory runner holds a
    # shuffle's input as Python objects (~400 bytes per key as tuples; 216 keys a document).
    # More partitions spread the work of a large corpus over more workers (see
    # `partitions_for`); the results do not depend on the number.
    lsh_partitions: int = 16
    # A page whose sentences are all on many pages is compared (unweighted) only when it has at
    # least this many informative sentences: a chrome block is a line or three, an article more.
    min_sentences_all_common: int = 5
    seed: int = 1


class Fingerprint:
    """What verification needs of one document: its sentences' content-word ids, and how many
    documents of the corpus hold each sentence (1 until counted: a sentence in many otherwise
    unrelated pages is site chrome the cleaner kept, and must not make them copies).

    Stored packed (each sentence's sorted ids as uint32 in one bytes object): fingerprints wait
    in several shuffles, and the in-memory runner holds a shuffle's input as Python objects; as
    a tuple of frozensets one took ~15 KB, packed ~1.5 KB. The sets are built on first use."""

    __slots__ = ("doc_id", "_packed", "_ends", "_frequencies", "_sentences")

    def __init__(self, doc_id: str, sentences: Iterable[Iterable[int]]) -> None:
        ids: list[int] = []
        ends: list[int] = []
        for sentence in sentences:
            ids.extend(sorted(set(sentence)))  # a sentence is a set of words: verification relies on it
            ends.append(len(ids))
        self.doc_id = doc_id
        self._packed = np.asarray(ids, dtype="<u4").tobytes()
        self._ends = np.asarray(ends, dtype="<u4").tobytes()
        self._frequencies = b""  # 1 each until counted (with_frequencies)
        self._sentences: tuple[frozenset[int], ...] | None = None

    @classmethod
    def _from_packed(cls, doc_id: str, packed: bytes, ends: bytes, frequencies: bytes) -> "Fingerprint":
        fp = cls.__new__(cls)
        fp.doc_id, fp._packed, fp._ends, fp._frequencies, fp._sentences = doc_id, packed, ends, frequencies, None
        return fp

    def __reduce__(self):
        return Fingerprint._from_packed, (self.doc_id, self._packed, self._ends, self._frequencies)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fingerprint) and self.__reduce__()[1] == other.__reduce__()[1]

    def __hash__(self) -> int:
        return hash(self.__reduce__()[1])

    def __repr__(self) -> str:
        return f"Fingerprint({self.doc_id!r}, {len(self)} sentences)"

    def __len__(self) -> int:
        return len(self._ends) // 4

    def packed_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All sentences' sorted ids end to end (uint32) and each sentence's length (intp)."""
        ends = np.frombuffer(self._ends, dtype="<u4").astype(np.intp)
        return np.frombuffer(self._packed, dtype="<u4"), np.diff(ends, prepend=0)

    def sentence_weights(self, indexes: np.ndarray, common: int) -> list[float]:
        """min(1, common / documents holding the sentence) for the sentences at `indexes`."""
        if not self._frequencies:  # not counted yet: 1 each
            return [min(1.0, common / 1)] * len(indexes)
        counts = np.frombuffer(self._frequencies, dtype="<u4")[indexes].tolist()
        return [min(1.0, common / count) for count in counts]

    def sorted_ids(self) -> list[np.ndarray]:
        """Each sentence's ids, sorted, as a uint32 array."""
        ids = np.frombuffer(self._packed, dtype="<u4")
        ends = np.frombuffer(self._ends, dtype="<u4").tolist()
        return [ids[start:end] for start, end in zip([0] + ends[:-1], ends)]

    @property
    def sentences(self) -> tuple[frozenset[int], ...]:
        if self._sentences is None:
            self._sentences = tuple(frozenset(ids.tolist()) for ids in self.sorted_ids())
        return self._sentences

    def frequency(self, index: int) -> int:
        if not self._frequencies:
            return 1
        return int.from_bytes(self._frequencies[4 * index:4 * index + 4], "little")

    def to_bytes(self) -> bytes:
        """The fingerprint's sentences (not its frequencies) as bytes; `from_bytes` reads them."""
        return len(self._packed).to_bytes(4, "little") + self._packed + self._ends

    @classmethod
    def from_bytes(cls, doc_id: str, data: bytes) -> "Fingerprint":
        size = int.from_bytes(data[:4], "little")
        ends = data[4 + size:]
        # the last sentence ends where the ids end: a cut anywhere breaks that or the sizes
        last = int.from_bytes(ends[-4:], "little") if ends else 0
        if len(data) < 4 + size or len(ends) % 4 or size % 4 or last * 4 != size:
            raise ValueError(f"fingerprint of {doc_id!r}: {len(data)} bytes do not hold one")
        return cls._from_packed(doc_id, data[4:4 + size], ends, b"")

    def with_frequencies(self, frequencies: Sequence[int]) -> "Fingerprint":
        return self.with_packed_frequencies(np.asarray(frequencies, dtype="<u4").tobytes())

    @property
    def packed_frequencies(self) -> bytes:
        """The sentences' counts as little-endian uint32 (empty until counted)."""
        return self._frequencies

    def with_packed_frequencies(self, frequencies: bytes) -> "Fingerprint":
        if len(frequencies) not in (0, len(self._ends)):  # short counts would read as 0, silently
            raise ValueError(f"fingerprint of {self.doc_id!r}: {len(frequencies)} bytes of counts "
                             f"for {len(self)} sentences")
        return Fingerprint._from_packed(self.doc_id, self._packed, self._ends, frequencies)


def sentence_hashes(fp: Fingerprint) -> list[str]:
    """A stable id per sentence (of its content words), for counting in how many documents it occurs."""
    return [hashlib.blake2b(ids.tobytes(), digest_size=8).hexdigest() for ids in fp.sorted_ids()]


def with_frequencies(fp: Fingerprint, counts: dict[str, int]) -> Fingerprint:
    return fp.with_frequencies([counts.get(h, 1) for h in sentence_hashes(fp)])


# ----------------------------------------------------------------------------- tokens
_STOPWORDS: dict[str, frozenset[str]] = {}
_STOP_LOCK = threading.Lock()
# langdetect code -> jusText stop-list name, for the languages jusText covers that news uses most.
_JUSTEXT_NAMES = {
    "en": "English", "es": "Spanish", "de": "German", "fr": "French", "pt": "Portuguese",
    "it": "Italian", "nl": "Dutch", "ru": "Russian", "tr": "Turkish", "pl": "Polish",
    "sv": "Swedish", "da": "Danish", "no": "Norwegian_Bokmal", "fi": "Finnish", "cs": "Czech",
    "sk": "Slovak", "hu": "Hungarian", "ro": "Romanian", "uk": "Ukrainian", "bg": "Bulgarian",
    "hr": "Croatian", "sl": "Slovenian", "el": "Greek", "id": "Indonesian", "ca": "Catalan",
    "is": "Icelandic", "lt": "Lithuanian", "lv": "Latvian", "et": "Estonian", "vi": "Vietnamese",
}


def _stop_list_name(language: str | None) -> str:
    """The jusText stop list of a langdetect code, "" when there is none."""
    return _JUSTEXT_NAMES.get(language or "", "")


def stopwords(language: str | None) -> frozenset[str]:
    """The folded stop words of `language` (empty for unknown ones), loaded once per process."""
    name = _stop_list_name(language)
    if not name:
        return frozenset()
    if name not in _STOPWORDS:
        with _STOP_LOCK:
            if name not in _STOPWORDS:
                import justext

                try:
                    words = justext.get_stoplist(name)
                except ValueError:
                    words = ()
                _STOPWORDS[name] = frozenset(fold(w) for w in words)
    return _STOPWORDS[name]


# Words repeat (Zipf): fingerprinting spent 7.5 ms per document folding and hashing the same
# words again. Per stop list, a bounded per-process table gives each word as written its id, or
# None when it is no content word (`_content_id`), in one lookup (see `sentence_ids`). All
# tables together hold at most _WORD_CACHE_SIZE words (plus one sentence's): ~51 MiB when full
# of 4-10-letter words (measured).
_WORD_CACHE_SIZE = 1 << 18
_CONTENT_IDS: dict[str, dict[str, int | None]] = {}  # stop-list name ("" for none) -> table


def fold(token: str) -> str:
    """Case- and accent-insensitive form: 'López' and 'Lopez' are one name in two renderings."""
    if token.isascii():  # nothing to decompose: the same result, without NFKD
        return token.lower()
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _is_content(word: str, stop: frozenset[str]) -> bool:
    """Whether a folded word carries meaning: not a stop word, not a single letter (digits are)."""
    return not (word in stop or (len(word) < 2 and not word.isdigit()) or word == "_")


def content_words(text: str, stop: frozenset[str]) -> list[str]:
    """Folded words that carry meaning: not stop words, and not single letters unless digits."""
    return [word for word in map(fold, _WORD.findall(text)) if _is_content(word, stop)]


def _content_id(raw: str, stop: frozenset[str]) -> int | None:
    word = fold(raw)
    return token_id(word) if _is_content(word, stop) else None


_MISSING = object()


def sentence_ids(sentence: str, language: str | None) -> set[int]:
    """The ids of a sentence's content words: {token_id(w) for w in content_words(sentence,
    stopwords(language))}, from the table of words already met (a dict lookup per word in C,
    against ~1 us a word through fold, the stop list and token_id in Python)."""
    name = _stop_list_name(language)
    table = _CONTENT_IDS.get(name)
    if table is None:
        table = _CONTENT_IDS.setdefault(name, {})
    words = _WORD.findall(sentence)
    try:
        ids = set(map(table.__getitem__, words))
    except KeyError:
        stop = stopwords(language)
        if sum(map(len, _CONTENT_IDS.values())) >= _WORD_CACHE_SIZE:
            # bounded memory for all languages together; the ids are the same, only recomputed
            for other in list(_CONTENT_IDS.values()):
                other.clear()
        ids = set()
        for raw in words:
            value = table.get(raw, _MISSING)
            if value is _MISSING:
                value = table[raw] = _content_id(raw, stop)
            ids.add(value)
    ids.discard(None)
    return ids


def split_sentences(text: str) -> list[str]:
    """Sentences of a clean body: paragraphs (lines) split again at sentence ends."""
    out = []
    for line in text.split("\n"):
        for piece in _SENTENCE_END.split(line):
            piece = piece.strip()
            if piece:
                out.append(piece)
    return out


def token_id(word: str) -> int:
    """A stable 32-bit id of a word (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=4).digest(), "little")


def fingerprint(doc_id: str, text: str, language: str | None, config: NearDupConfig) -> Fingerprint:
    sentences = []
    for sentence in split_sentences(text):
        ids = sentence_ids(sentence, language)
        if ids:
            sentences.append(ids)
    return Fingerprint(doc_id, sentences)


# ----------------------------------------------------------------------------- MinHash / LSH
class MinHasher:
    """MinHash with fixed universal-hash permutations, so every worker computes the same keys."""

    def __init__(self, num_perm: int, seed: int) -> None:
        rng = np.random.RandomState(seed)
        self.a = rng.randint(1, _MERSENNE, size=num_perm, dtype=np.uint64)
        self.b = rng.randint(0, _MERSENNE, size=num_perm, dtype=np.uint64)

    def signature(self, ids: np.ndarray) -> np.ndarray:
        """The signature of a set of distinct ids (any unsigned integer array)."""
        return self._hashed(ids.astype(np.uint64)).min(axis=0)

    def signatures(self, ids: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The signatures of the sentences `rows` of a packed fingerprint (`Fingerprint.
        packed_arrays`), one per row, hashed in one product instead of one per sentence."""
        row_lengths = lengths[rows]
        if not row_lengths.all():  # as signature() does for an empty sentence
            raise ValueError("an empty sentence has no MinHash signature")
        hashed = self._hashed(ids[_ranges(_starts(lengths)[rows], row_lengths)].astype(np.uint64))
        return np.minimum.reduceat(hashed, _starts(row_lengths), axis=0)

    def _hashed(self, values: np.ndarray) -> np.ndarray:
        # (a*x + b) mod p on 64-bit ints: keep x and a below 2^32 so a*x does not overflow.
        return (np.outer(values, self.a & np.uint64(_MAX_HASH)) + self.b) % np.uint64(_MERSENNE)


def band_keys(signature: np.ndarray, rows: int, prefix: str) -> list[str]:
    data = signature.tobytes()  # each band's bytes sliced from one copy, not a copy per band
    width = rows * signature.itemsize
    return [f"{prefix}{band}:{hashlib.blake2b(data[band * width:(band + 1) * width], digest_size=8).hexdigest()}"
            for band in range(len(signature) // rows)]


_HASHERS: dict[tuple[int, int], MinHasher] = {}


def _hasher(num_perm: int, seed: int) -> MinHasher:
    key = (num_perm, seed)
    if key not in _HASHERS:
        _HASHERS[key] = MinHasher(num_perm, seed)
    return _HASHERS[key]


def informative(fp: Fingerprint, config: NearDupConfig) -> list[int]:
    """Indexes of the sentences with enough content words to count as evidence."""
    # from the packed lengths: building the sentences' sets only to count them cost more than
    # the rest of a pair's verification
    return _informative_rows(fp.packed_arrays()[1], config).tolist()


def _informative_rows(lengths: np.ndarray, config: NearDupConfig) -> np.ndarray:
    return np.flatnonzero(lengths >= config.min_sentence_words)


DOC_KEY_SENTENCE = -1  # the sentence index carried by document-level keys


def candidate_keys(fp: Fingerprint, config: NearDupConfig) -> list[tuple[str, int, bytes | None]]:
    """(LSH key, sentence index, sketch) of one document: bands of each informative sentence
    (sketch None), and bands of the whole document's content words (index DOC_KEY_SENTENCE,
    with the document's sketch, see `sketch_jaccard`)."""
    keys: dict[str, tuple[int, bytes | None]] = {}
    sentence_hasher = _hasher(config.sentence_rows * config.sentence_bands, config.seed)
    ids, lengths = fp.packed_arrays()
    key_rows = _informative_rows(lengths, config)[:config.key_sentences]
    for index, signature in zip(key_rows.tolist(), sentence_hasher.signatures(ids, lengths, key_rows)):
        for key in band_keys(signature, config.sentence_rows, "s"):
            keys.setdefault(key, (index, None))
    if len(ids):
        doc_hasher = _hasher(config.doc_rows * config.doc_bands, config.seed + 1)
        signature = doc_hasher.signature(np.unique(ids))  # the document's words, each once
        sketch = (signature & np.uint64(0xFF)).astype(np.uint8).tobytes()
        for key in band_keys(signature, config.doc_rows, "d"):
            keys[key] = (DOC_KEY_SENTENCE, sketch)
    return [(key, index, sketch) for key, (index, sketch) in sorted(keys.items())]


def sketch_jaccard(a: bytes, b: bytes) -> float:
    """Jaccard of two documents' content words estimated from the lowest byte of each of their
    document minima (b-bit MinHash: unequal minima still agree in one byte 1/256 of the time)."""
    agree = sum(x == y for x, y in zip(a, b)) / max(1, len(a))
    return max(0.0, (agree - 1 / 256) / (1 - 1 / 256))


def bucket_pairs(members: Iterable[tuple[str, int, bytes | None]], config: NearDupConfig, key: str = ""
                 ) -> list[tuple[tuple[str, str], tuple[int, int]]]:
    """Candidate pairs of one LSH bucket: ((small id, large id), (sentence of small, of large)).
    Members are (doc_id, sentence index, sketch) as `candidate_keys` gives them; documents
    meeting on a document-level key are paired only if their sketches agree enough.

    A bucket of more than `max_bucket` documents links each document only to the next
    `bucket_fan_out` ones in an order hashed from the key (wrapping round), so a bucket costs
    linear pairs. The order differs from key to key: documents that share many keys (copies
    of one story) are paired through several of them, documents that share one common key
    are paired a bounded number of times."""
    by_doc: dict[str, int] = {}
    sketches: dict[str, bytes] = {}
    for doc_id, sentence, sketch in members:
        by_doc.setdefault(doc_id, sentence)
        if sketch is not None:
            sketches.setdefault(doc_id, sketch)
    if len(by_doc) < 2:
        return []
    if len(by_doc) <= config.max_bucket:
        ids = sorted(by_doc)
        links = {(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]}
    else:
        order = sorted(by_doc, key=lambda doc_id: _keyed_rank(key, doc_id))
        n = len(order)
        links = {tuple(sorted((order[i], order[(i + step) % n])))
                 for i in range(n) for step in range(1, config.bucket_fan_out + 1)}
    if sketches:
        links = {(a, b) for a, b in links if a not in sketches or b not in sketches
                 or sketch_jaccard(sketches[a], sketches[b]) >= config.doc_min_jaccard}
    return [((a, b), (by_doc[a], by_doc[b])) for a, b in sorted(links)]


def _keyed_rank(key: str, doc_id: str) -> bytes:
    """A document's place in a bucket's order: stable on every worker, different per key."""
    return hashlib.blake2b(f"{key}\x00{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()


def worth_verifying(sentence_hits: Iterable[tuple[int, int]], informative_a: int, informative_b: int,
                    config: NearDupConfig) -> bool:
    """Whether a candidate pair collided on enough distinct sentences to be verified.

    Two long unrelated pages on one topic always have some sentence pair that collides (hundreds
    of sentences times hundreds); true copies collide on a share of the shorter one's sentences.

    A pair that met on a document-level key (its sketched Jaccard passed `doc_min_jaccard`) also
    needs one colliding sentence, unless the shorter page has at most one informative sentence
    (then there is little sentence evidence to ask for): on a corpus of pages sharing their
    common vocabulary, chance page-level matches grow with the corpus (synthetic corpus: 0.10
    per document at 5k, 0.43 at 20k), while every true pair of wmt-dev and of the synthetic
    corpus also shares a sentence key."""
    hits = list(sentence_hits)
    shortest = max(1, min(informative_a, informative_b))
    sentence_level = [(a, b) for a, b in hits if a != DOC_KEY_SENTENCE]
    if len(sentence_level) < len(hits):
        return bool(sentence_level) or shortest <= 1
    distinct = min(len({a for a, _ in hits}), len({b for _, b in hits}))
    needed = max(min(config.min_matched_sentences, shortest), math.ceil(config.min_collision_share * shortest))
    return distinct >= needed


# ----------------------------------------------------------------------------- packed shuffles
_HEX_ID = re.compile(r"[0-9a-f]{16}")
_PACKED_HEX = 0xFF  # first byte of a packed id: 8 raw bytes of a 16-hex-digit id follow


def pack_id(doc_id: str) -> bytes:
    """A doc_id for the packed shuffle blobs: 9 bytes for the pipeline's ids (16 hex digits,
    transforms.records.doc_id_for), else a 2-byte big-endian length and UTF-8. Colliding
    pairs are most of the dedup shuffles' bytes (~150 a document at 20k) and grow with the
    corpus: ids as text took 36 of a pair's 42 bytes."""
    if _HEX_ID.fullmatch(doc_id):
        return bytes((_PACKED_HEX,)) + bytes.fromhex(doc_id)
    raw = doc_id.encode("utf-8", "surrogatepass")
    if len(raw) >= _PACKED_HEX << 8:
        raise ValueError(f"doc_id of {len(raw)} bytes is too long to pack")
    return len(raw).to_bytes(2, "big") + raw


def unpack_id(data: bytes, at: int) -> tuple[str, int]:
    """The doc_id `pack_id` wrote at `at`, and the offset after it."""
    if data[at] == _PACKED_HEX:
        return data[at + 1:at + 9].hex(), at + 9
    size = int.from_bytes(data[at:at + 2], "big")
    return data[at + 2:at + 2 + size].decode("utf-8", "surrogatepass"), at + 2 + size


# A partition's group holds about this many documents' keys, so a worker's share stays small
# while a local run gets few, large blobs.
DOCS_PER_PARTITION = 5000


def partitions_for(n_documents: int) -> int:
    """LSH partitions for a corpus of about n_documents (`NearDupConfig.lsh_partitions`)."""
    return max(NearDupConfig.lsh_partitions, math.ceil(n_documents / DOCS_PER_PARTITION))


def partition_of(digest: bytes, partitions: int) -> int:
    """The shuffle partition of a key or sentence digest."""
    return int.from_bytes(digest[:4], "little") % partitions


_DOC_KEY = 0xFF  # the key-sentence byte of a document-level key


def _place(hit: int) -> int:
    """The byte a key sentence travels as (`DOC_KEY_SENTENCE` -> `_DOC_KEY`); `_hit` reverses it."""
    return _DOC_KEY if hit == DOC_KEY_SENTENCE else hit


def _hit(place: int) -> int:
    return DOC_KEY_SENTENCE if place == _DOC_KEY else place


# LSH keys travel as 6-byte digests: a false meeting of two keys takes ~2^48 / keys^2 (one in
# ~0.8 runs at 100,000 documents of 216 keys each) and costs one candidate hit that
# verification judges; the key blobs are the second largest dedup shuffle.
KEY_DIGEST_BYTES = 6


def key_digest(key: str) -> bytes:
    """The digest an LSH key is grouped by in the packed shuffles."""
    return hashlib.blake2b(key.encode("ascii"), digest_size=KEY_DIGEST_BYTES).digest()


def packed_keys(fp: Fingerprint, prior: bool, config: NearDupConfig) -> list[tuple[int, bytes]]:
    """A document's LSH keys as (partition, blob): one blob per partition its keys fall in.

    Blob: doc_id (`pack_id`) | informative sentences (1) | prior (1) | sketch length (1, 0
    in a blob without document-level keys) | sketch, then per key: digest
    (`KEY_DIGEST_BYTES`) | which key sentence (1: its place among the sentences that make
    keys, `_DOC_KEY` for the document-level keys). Verification only counts distinct
    colliding sentences, so their place is all a pair needs to carry."""
    key_sentences = informative(fp, config)[:config.key_sentences]
    n_informative = min(len(key_sentences), 255)
    ordinal = {sentence: min(place, _DOC_KEY - 1) for place, sentence in enumerate(key_sentences)}
    members: dict[int, list[bytes]] = {}
    with_document_keys: set[int] = set()
    doc_sketch = b""
    for key, sentence, sketch in candidate_keys(fp, config):
        digest = key_digest(key)
        partition = partition_of(digest, config.lsh_partitions)
        place = _DOC_KEY if sentence == DOC_KEY_SENTENCE else ordinal[sentence]
        members.setdefault(partition, []).append(digest + bytes((place,)))
        if place == _DOC_KEY:
            with_document_keys.add(partition)
        doc_sketch = sketch or doc_sketch
    # Only document-level keys use the sketch: a blob without one leaves it out (a third of
    # them; the sketch was a quarter of the key bytes).
    header = pack_id(fp.doc_id) + bytes((n_informative, prior))
    return [(partition, header + (bytes((len(doc_sketch),)) + doc_sketch if partition in with_document_keys else b"\0")
             + b"".join(keys))
            for partition, keys in sorted(members.items())]


def _unpack_keys(blob: bytes) -> tuple[str, int, bool, bytes | None, np.ndarray, np.ndarray]:
    """A key blob's doc_id, informative sentences, prior flag, sketch, and its keys as two
    arrays: digests (as uint64, zero-padded) and key-sentence bytes."""
    doc_id, at = unpack_id(blob, 0)
    n_informative, prior, sketch_len = blob[at], bool(blob[at + 1]), blob[at + 2]
    at += 3
    sketch = blob[at:at + sketch_len] or None
    at += sketch_len
    keys = np.frombuffer(blob, dtype=np.uint8, offset=at).reshape(-1, KEY_DIGEST_BYTES + 1)
    digests = np.zeros((len(keys), 8), dtype=np.uint8)
    digests[:, :KEY_DIGEST_BYTES] = keys[:, :KEY_DIGEST_BYTES]
    return doc_id, n_informative, prior, sketch, digests.view("<u8").ravel(), keys[:, KEY_DIGEST_BYTES].copy()


def _colliding(digests: np.ndarray) -> Iterator[np.ndarray]:
    """Positions of the keys of each digest held 2+ times, each run in its original order."""
    order = np.argsort(digests, kind="stable")
    ordered = digests[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    shared = ends - starts > 1
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
        yield order[start:end]


def partition_pairs(blobs: Iterable[bytes], config: NearDupConfig) -> Iterator[tuple[int, bytes]]:
    """One LSH partition's key blobs -> (pair partition, blob of colliding pairs) for every pair
    of documents meeting in a bucket (`bucket_pairs`), except two documents of earlier runs
    (they were compared already). One blob per pair partition, its pairs grouped by first
    document: a (`pack_id`) | informative sentences of a (1) | pairs (2), then per pair:
    b (`pack_id`) | informative sentences of b (1) | key sentence of a (1) | of b (1). A
    document is first in several pairs of a partition, and ids were most of a pair's bytes.

    Keys are found in buckets by sorting their digests, not in a dict of lists: a partition
    holds ~1.1 million keys (~5,000 pages' worth, `DOCS_PER_PARTITION`), almost all held by
    one page, and as Python objects they took ~210 MB while grouped, as arrays ~25 MB."""
    doc_ids: list[str] = []
    sizes: dict[str, int] = {}
    packed: dict[str, bytes] = {}  # each id packed once, not once per pair it is in
    priors: set[str] = set()
    sketches: list[bytes | None] = []
    digests: list[np.ndarray] = []
    places: list[np.ndarray] = []
    for blob in blobs:
        doc_id, n_informative, prior, sketch, blob_digests, blob_places = _unpack_keys(blob)
        sizes[doc_id] = n_informative
        packed[doc_id] = pack_id(doc_id)
        if prior:
            priors.add(doc_id)
        doc_ids.append(doc_id)
        sketches.append(sketch)
        digests.append(blob_digests)
        places.append(blob_places)
    if not doc_ids:
        return
    # owner of every key: the index in doc_ids of the blob it came from
    all_owners = np.repeat(np.arange(len(doc_ids), dtype=np.int32), [len(d) for d in digests])
    all_digests, all_places = np.concatenate(digests), np.concatenate(places)
    del digests, places
    by_first: dict[str, list[bytes]] = {}
    for positions in _colliding(all_digests):
        bucket = []
        for owner, place in zip(all_owners[positions].tolist(), all_places[positions].tolist()):
            sentence = _hit(place)
            bucket.append((doc_ids[owner], sentence, sketches[owner] if sentence == DOC_KEY_SENTENCE else None))
        key = all_digests[positions[0]].tobytes()[:KEY_DIGEST_BYTES].hex()  # as packed: little-endian
        for (a, b), (hit_a, hit_b) in bucket_pairs(bucket, config, key):
            if a in priors and b in priors:
                continue
            by_first.setdefault(a, []).append(packed[b] + bytes((sizes[b], _place(hit_a), _place(hit_b))))
    out: dict[int, list[bytes]] = {}
    for a, pairs in by_first.items():
        target = zlib.crc32(a.encode("utf-8", "surrogatepass")) % config.lsh_partitions
        for start in range(0, len(pairs), 0xFFFF):
            chunk = pairs[start:start + 0xFFFF]
            out.setdefault(target, []).append(packed[a] + bytes((sizes[a],)) + len(chunk).to_bytes(2, "little")
                                              + b"".join(chunk))
    for target, partition_blobs in sorted(out.items()):
        yield target, b"".join(partition_blobs)


def worth_verifying_pairs(blobs: Iterable[bytes], config: NearDupConfig) -> Iterator[tuple[str, str]]:
    """One pair partition's blobs of colliding pairs -> the (a, b) pairs worth verifying, in
    order.

    Colliding pairs are the dedup stage's largest count (~150 entries a document at 20k, of
    which ~0.2 a document are worth verifying): when every id is a pipeline id (16 hex digits,
    packed in 9 bytes) the entries have one size and are judged as arrays (`_worth_verifying_arrays`),
    with the same answers as the walk below, which handles any id."""
    blobs = list(blobs)
    fast = _worth_verifying_arrays(blobs, config)
    return iter(fast) if fast is not None else _worth_verifying_walk(blobs, config)


def _worth_verifying_walk(blobs: Iterable[bytes], config: NearDupConfig) -> Iterator[tuple[str, str]]:
    """`worth_verifying_pairs` one entry at a time, for blobs with ids of any form."""
    hits: dict[tuple[str, str], list[tuple[int, int]]] = {}
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    for blob in blobs:
        at = 0
        while at < len(blob):
            a, at = unpack_id(blob, at)
            size_a, n_pairs = blob[at], int.from_bytes(blob[at + 1:at + 3], "little")
            at += 3
            for _ in range(n_pairs):
                b, at = unpack_id(blob, at)
                hits.setdefault((a, b), []).append((_hit(blob[at + 1]), _hit(blob[at + 2])))
                sizes[(a, b)] = (size_a, blob[at])
                at += 3
    for pair in sorted(hits):
        if worth_verifying(hits[pair], *sizes[pair], config):
            yield pair


# With packed hex ids (`pack_id`) every part of a pair blob (`partition_pairs`) has one size:
_PAIR_HEADER_BYTES = 12  # a (9) | informative sentences of a (1) | pairs (2)
_PAIR_ENTRY_BYTES = 12  # b (9) | informative sentences of b (1) | key sentence of a (1) | of b (1)


def _worth_verifying_arrays(blobs: Sequence[bytes], config: NearDupConfig) -> list[tuple[str, str]] | None:
    """`worth_verifying_pairs` on arrays, or None when some id is not a packed hex id.

    Each pair's hits are its entries; per pair: does it have a document-level hit, a
    sentence-level one, how many distinct key sentences of a and of b collided; then
    `worth_verifying`'s rule on those counts."""
    firsts: list[bytes] = []
    first_sizes: list[int] = []
    counts: list[int] = []
    chunks: list[np.ndarray] = []
    for blob in blobs:
        at = 0
        while at < len(blob):
            if blob[at] != _PACKED_HEX:
                return None
            n_pairs = int.from_bytes(blob[at + 10:at + _PAIR_HEADER_BYTES], "little")
            firsts.append(blob[at + 1:at + 9])
            first_sizes.append(blob[at + 9])
            counts.append(n_pairs)
            at += _PAIR_HEADER_BYTES
            chunks.append(np.frombuffer(blob, dtype=np.uint8, count=n_pairs * _PAIR_ENTRY_BYTES, offset=at))
            at += n_pairs * _PAIR_ENTRY_BYTES
    if not chunks:
        return []
    entries = np.concatenate(chunks).reshape(-1, _PAIR_ENTRY_BYTES)
    if not (entries[:, 0] == _PACKED_HEX).all():
        return None
    repeat = np.asarray(counts, dtype=np.intp)
    # big-endian, so that ids sort as their hex text does
    a = np.repeat(np.frombuffer(b"".join(firsts), dtype=">u8"), repeat)
    size_a = np.repeat(np.asarray(first_sizes, dtype=np.int64), repeat)
    b = np.ascontiguousarray(entries[:, 1:9]).view(">u8").ravel()
    size_b = entries[:, 9].astype(np.int64)
    hit_a, hit_b = entries[:, 10], entries[:, 11]
    if not len(a):
        return []
    order = np.lexsort((b, a))
    a, b, size_a, size_b, hit_a, hit_b = a[order], b[order], size_a[order], size_b[order], hit_a[order], hit_b[order]
    new_pair = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    pair = np.cumsum(new_pair) - 1
    starts = np.flatnonzero(new_pair)
    n_pairs = len(starts)
    document_level = hit_a == _DOC_KEY
    has_document = np.zeros(n_pairs, dtype=bool)
    has_document[pair[document_level]] = True
    has_sentence = np.zeros(n_pairs, dtype=bool)
    has_sentence[pair[~document_level]] = True

    def distinct(hit: np.ndarray) -> np.ndarray:
        return np.bincount(np.unique(pair * 256 + hit) // 256, minlength=n_pairs)

    # sizes: the last entry of a pair, as the walk keeps them (they are one page's, all equal)
    last = np.r_[starts[1:], len(pair)] - 1
    shortest = np.maximum(1, np.minimum(size_a[last], size_b[last]))
    needed = np.maximum(np.minimum(config.min_matched_sentences, shortest),
                        np.ceil(config.min_collision_share * shortest.astype(np.float64)).astype(np.int64))
    by_sentences = np.minimum(distinct(hit_a), distinct(hit_b)) >= needed
    worth = np.where(has_document, has_sentence | (shortest <= 1), by_sentences)
    chosen = starts[worth]
    return [(f"{first:016x}", f"{second:016x}") for first, second in zip(a[chosen].tolist(), b[chosen].tolist())]


# ----------------------------------------------------------------------------- verification
def sentence_similarity(a: Fingerprint, b: Fingerprint, config: NearDupConfig) -> tuple[float, int]:
    """(similarity, number of matched sentences) of two documents.

    Each informative sentence of the shorter document scores the Dice overlap of content words
    with its best match in the other; the similarity is the mean of these scores, each sentence
    weighing 1 / (number of documents holding it), so shared boilerplate counts for little next
    to the article's own sentences (while in a cluster of many copies every sentence weighs the
    same). A sentence is "matched" when its best score reaches `sentence_match`. The graded
    mean separated translations from same-event articles better than the share of matched
    sentences did (bench/dedup.py)."""
    ids_a, lengths_a = a.packed_arrays()
    ids_b, lengths_b = b.packed_arrays()
    informative_a = _informative_rows(lengths_a, config)
    informative_b = _informative_rows(lengths_b, config)
    if not len(informative_a) or not len(informative_b):
        return 0.0, 0
    weights_a = a.sentence_weights(informative_a, config.common_sentence)
    weights_b = b.sentence_weights(informative_b, config.common_sentence)
    # Evidence comes from the shorter page's informative sentences; they may match any sentence
    # of the other, short ones included ("The incident was recorded by cameras.").
    if (sum(weights_a), len(weights_a)) <= (sum(weights_b), len(weights_b)):
        ids, lengths, rows, weights, other_ids, other_lengths = (
            ids_a, lengths_a, informative_a, weights_a, ids_b, lengths_b)
    else:
        ids, lengths, rows, weights, other_ids, other_lengths = (
            ids_b, lengths_b, informative_b, weights_b, ids_a, lengths_a)
    total = sum(weights)
    if total < 1.0:
        # Every sentence of the page is on many pages: it is site chrome the cleaner kept, or
        # one copy of a story republished many times (120 trimmed copies of one story were
        # otherwise never verified: each sentence weighed 4/110). Only a page with enough such
        # sentences to be an article is compared, all sentences weighing the same.
        if len(weights) < config.min_sentences_all_common:
            return 0.0, 0
        weights = [1.0] * len(weights)
        total = float(len(weights))
    best = _best_dice(ids, lengths, rows, other_ids, other_lengths)
    matched = 0
    score = 0.0
    for weight, dice in zip(weights, best):  # summed in sentence order, as the scores always were
        if dice >= config.sentence_floor:
            score += weight * dice
        matched += dice >= config.sentence_match
    return score / total, matched


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each of the consecutive ranges of these lengths starts."""
    return np.cumsum(lengths) - lengths


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions start..start+length-1 of each range, end to end."""
    return np.arange(int(lengths.sum())) - np.repeat(_starts(lengths) - starts, lengths)


# Cells of the (row sentence x other sentence) table counted at once: ~8 MB of counts and as
# much of Dice values; rows beyond it are counted block by block.
DICE_BLOCK_CELLS = 1 << 20


def _best_dice(ids: np.ndarray, lengths: np.ndarray, rows: np.ndarray,
               other_ids: np.ndarray, other_lengths: np.ndarray) -> list[float]:
    """For each sentence `rows` of a page (its ids end to end, `lengths` per sentence), the best
    Dice overlap 2|A&B| / (|A|+|B|) with any sentence of the other page, 0.0 when none shares a
    word.

    Counted for sentence pairs at once: every word of the row sentences is looked up among
    the other page's sorted words, and the hits counted per (row, other sentence) cell. Each
    sentence's ids are distinct, so a cell's hits are its shared words. A dict of overlaps per
    sentence in Python cost 4x more (1.2 against 0.3 ms a pair on a bench corpus's pairs).
    Rows go in blocks of at most DICE_BLOCK_CELLS cells, so two very long pages (thousands of
    sentences each) do not need a table of all their pairs."""
    starts = _starts(lengths)
    order = np.argsort(other_ids, kind="stable")
    other_sorted = other_ids[order]
    other_sentence = np.repeat(np.arange(len(other_lengths)), other_lengths)[order]
    n_other = len(other_lengths)
    block = max(1, DICE_BLOCK_CELLS // n_other)
    best: list[float] = []
    for first in range(0, len(rows), block):
        block_rows = rows[first:first + block]
        row_lengths = lengths[block_rows]
        words = ids[_ranges(starts[block_rows], row_lengths)]
        word_row = np.repeat(np.arange(len(block_rows)), row_lengths)
        found = np.searchsorted(other_sorted, words, "left")
        hits = np.searchsorted(other_sorted, words, "right") - found
        if not hits.any():
            best += [0.0] * len(block_rows)
            continue
        cells = np.repeat(word_row, hits) * n_other + other_sentence[_ranges(found, hits)]
        shared = np.bincount(cells, minlength=len(block_rows) * n_other).reshape(len(block_rows), n_other)
        # integers far below 2**53: the float division is Python's 2 * shared / (len + len)
        # exactly; two empty sentences (only with min_sentence_words 0) share nothing: 0 / 1
        dice = (2 * shared) / np.maximum(row_lengths[:, None] + other_lengths[None, :], 1)
        best += dice.max(axis=1).tolist()
    return best


def verify(a: Fingerprint, b: Fingerprint, config: NearDupConfig) -> float | None:
    """The pair's similarity when it is a near duplicate, else None."""
    similarity, matched = sentence_similarity(a, b, config)
    # A one-sentence stub (a truncated copy) can match only one sentence; it then has to match it well.
    shortest = min(len(informative(a, config)), len(informative(b, config)))
    needed = min(config.min_matched_sentences, shortest)
    if needed < config.min_matched_sentences and similarity < config.single_sentence_similarity:
        return None
    if similarity >= config.min_similarity and matched >= needed:
        return round(similarity, 4)
    return None


# ----------------------------------------------------------------------------- clusters
def linked_clusters(edges: Iterable[tuple[str, str, float]], min_linkage: float,
                    edges_per_member: int = NearDupConfig.linkage_edges_per_member) -> list[list[str]]:
    """Clusters of verified edges, merged strongest edge first, where two clusters merge only when
    at least `min_linkage` of the pairs across them are verified edges, or `edges_per_member`
    times the smaller cluster's size (whichever is fewer).

    Plain connected components let one wrong edge chain two stories into one cluster (on
    wmt-dev 11 wrong edges in 400 cost 0.09 of pairwise precision); copies of one story are
    mostly all similar to each other, so they still merge. Deterministic: edges are taken in
    (similarity desc, ids) order. Each cluster sorted, the list sorted."""
    edges = sorted(edges, key=lambda e: (-e[2], e[0], e[1]))
    linked = {(a, b) for a, b, _ in edges} | {(b, a) for a, b, _ in edges}
    cluster_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for a, b, _ in edges:
        for node in (a, b):
            if node not in cluster_of:
                cluster_of[node] = node
                members[node] = [node]
    for a, b, _ in edges:
        ca, cb = cluster_of[a], cluster_of[b]
        if ca == cb:
            continue
        left, right = members[ca], members[cb]
        cross = sum((x, y) in linked for x in left for y in right)
        if cross < min(min_linkage * len(left) * len(right), edges_per_member * min(len(left), len(right))):
            continue
        if len(left) < len(right):
            ca, cb, left, right = cb, ca, right, left
        for node in right:
            cluster_of[node] = ca
        left.extend(right)
        del members[cb]
    return sorted(sorted(group) for group in members.values())


def widest_paths(source: str, edges: Iterable[tuple[str, str, float]]) -> dict[str, float]:
    """For every node reachable from `source`, the best bottleneck similarity of a path to it:
    a direct edge's similarity when there is one, else the weakest link of the strongest chain."""
    adjacency: dict[str, list[tuple[str, float]]] = {}
    for a, b, s in edges:
        adjacency.setdefault(a, []).append((b, s))
        adjacency.setdefault(b, []).append((a, s))
    best = {source: 1.0}
    frontier = [source]
    while frontier:
        node = frontier.pop()
        for neighbour, s in adjacency.get(node, ()):
            width = min(best[node], s)
            if width > best.get(neighbour, -1.0):
                best[neighbour] = width
                frontier.append(neighbour)
    best.pop(source)
    return best
