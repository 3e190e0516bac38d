"""Dedup stage: exact copies (normalised body hash), then near duplicates (transforms.neardup),
each as keyed Beam steps, so no worker ever compares all pairs or holds the corpus.

Kept-copy rule (documented in README): in each cluster the kept document is the one with the
most characters of clean text, then the earliest `published` date (unknown dates last), then
the smallest `doc_id`. Every duplicate row names the kept document (`duplicate_of`, always a
row of the documents table) and its similarity to it.

Incremental runs (`--state`) also pass the index of documents earlier runs kept (`prior`
rows, transforms.state). Those were published already and cannot become duplicates, so they
rank before every new document: a new copy of one of them is a duplicate of it. Index rows of
inputs that changed and are ingested again (`superseded`) only count for exact copies: an
unchanged body is a duplicate of its own earlier document, an edited one a new version.
"""
from __future__ import annotations

import hashlib
import logging
import math
import statistics
import unicodedata
from typing import Any, Iterable, Iterator

import apache_beam as beam

from transforms.neardup import (Fingerprint, NearDupConfig, fingerprint, linked_clusters, pack_id, packed_keys,
                                partition_of, partition_pairs, sentence_hashes, unpack_id, verify, widest_paths,
                                with_frequencies, worth_verifying_pairs)
from transforms.routing import Routed, SplitRoutes, route
from transforms.spill import (KEYS_SUFFIX, PAIRS_SUFFIX, BlobFileWriter, SpillWriter, close_spills, defer_counted,
                              load_fingerprint, read_blobs, resolve_counted, write_blob_file)

LOG = logging.getLogger(__name__)
DedupConfig = NearDupConfig  # the stage's settings are the near-duplicate thresholds


def normalize_for_hash(text: str) -> str:
    """NFKC, case-folded, each run of white space one space, none at the ends. `str.split`
    splits at exactly the characters a regular expression's \\s matches (Py_UNICODE_ISSPACE),
    so this is `re.sub(r"\\s+", " ", ...).strip()` at a quarter of the time (~90 -> ~23 us for
    5 KB)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8", "surrogatepass")).hexdigest()


# Counts of what the near-duplicate steps hand each other, so a run can show that nothing went
# missing between them (`dedup_flow_problems`): each hop's sender and receiver count the same thing.
# They travel as elements (route DEDUP_COUNT: (name, count)), summed where the run commits
# (transforms.write.CommitRun), not as Beam metrics: elements are counted once on every runner
# (the DaskRunner reports no metrics), and the commit step can read them before it commits.
DEDUP_COUNT = "dedup_count"
KEY_BLOBS_MADE, KEY_BLOBS_GROUPED = "key_blobs_made", "key_blobs_grouped"
PAIR_BYTES_MADE, PAIR_BYTES_GROUPED = "pair_bytes_made", "pair_bytes_grouped"
CANDIDATE_PAIRS, CANDIDATE_PAIRS_JOINED = "candidate_pairs", "candidate_pairs_joined"
PAIRS_JUDGED, NEAR_EDGES, EDGES_GATHERED = "pairs_judged", "near_duplicate_edges", "edges_gathered"
# (sent, received, what travels between them): the two counts of a hop must be equal.
FLOW_HOPS = ((KEY_BLOBS_MADE, KEY_BLOBS_GROUPED, "LSH key blobs, LshKeys -> BucketPairs"),
             (PAIR_BYTES_MADE, PAIR_BYTES_GROUPED, "bytes of colliding pairs, BucketPairs -> EnoughCollisions"),
             (CANDIDATE_PAIRS, CANDIDATE_PAIRS_JOINED, "candidate pairs, EnoughCollisions -> AttachCounts"),
             (CANDIDATE_PAIRS_JOINED, PAIRS_JUDGED, "candidate pairs, AttachCounts -> Verify"),
             (NEAR_EDGES, EDGES_GATHERED, "near-duplicate edges, Verify -> Components"))


# Pages first in a candidate pair, counted per pair partition: a pair is filed under its first
# id's crc32 (`partition_pairs`), and ids fall into partitions independently of one another, so
# these counts come out alike. A step that keeps too few of the pairs it judged still agrees with
# the next (FLOW_HOPS), but shows here: a worker that lost its share leaves the partitions it
# judged far below the others (`uneven_pair_partitions`), as in session 15's run (README).
FIRSTS_PREFIX = "candidate_firsts_in_pair_partition_"
# Fewer partitions give no stable reference; a partition is short when it falls this many standard
# deviations (binomial counts: about the square root of the count) below the upper quartile. The
# upper quartile itself sits ~0.7 of one above the mean, so a sound run is flagged only ~5.8
# deviations down: by a normal approximation about once in ten million runs of 20 partitions.
# And only when it also lost half the upper quartile's pages: should the counts vary more than
# binomially (100,000 pages gave 529-675 over 20 partitions, ~3 deviations each way), a large run
# is still not flagged for it.
MIN_PARTITIONS_COMPARED = 8
SHORTFALL_DEVIATIONS = 6.5
SHORTFALL_SHARE = 0.5


def _count(name: str, value: int) -> Routed:
    return route(DEDUP_COUNT, (name, value))


def pair_partition_seeds(partitions: int) -> list[tuple[str, int]]:
    """A zero count per pair partition, so that one that reported nothing sums to 0 and is
    judged as empty (`uneven_pair_partitions`)."""
    return [(f"{FIRSTS_PREFIX}{partition}", 0) for partition in range(partitions)]


def firsts_by_pair_partition(counts: dict[str, int]) -> dict[int, int]:
    """{pair partition: pages first in a candidate pair} from a run's summed dedup counts."""
    return {int(name[len(FIRSTS_PREFIX):]): count for name, count in counts.items() if name.startswith(FIRSTS_PREFIX)}


def uneven_pair_partitions(counts: dict[str, int]) -> list[str]:
    """Pair partitions whose pages first in a candidate pair fall far below the others', from a
    run's summed dedup counts (every partition has one, 0 included: `pair_partition_seeds`):
    one message per such partition. Empty when there are no such counts, or fewer than
    MIN_PARTITIONS_COMPARED partitions.

    The reference is the upper quartile, so that losing the partitions of one of two workers
    (half of them) still stands out; a loss spread evenly over all partitions, or over more than
    a quarter of them, does not. The allowance (SHORTFALL_DEVIATIONS square roots of it, and at
    least SHORTFALL_SHARE of it) keeps sound partitions from being flagged by chance, and also
    means small runs are hardly judged: below ~45 pages a partition not even an empty one is
    short, and a partition that lost 70% of its pairs keeps more of its first pages (a page
    stays while one of its pairs does), so it shows from ~100 pages a partition."""
    by_partition = firsts_by_pair_partition(counts)
    if len(by_partition) < MIN_PARTITIONS_COMPARED:
        return []
    upper_quartile = statistics.quantiles(by_partition.values(), n=4)[2]
    shortest_sound = min(upper_quartile - SHORTFALL_DEVIATIONS * math.sqrt(upper_quartile),
                         SHORTFALL_SHARE * upper_quartile)
    return [f"pair partition {partition}: {count} pages first in a candidate pair, against "
            f"{upper_quartile:.0f} in the upper quartile of {len(by_partition)} partitions"
            for partition, count in sorted(by_partition.items()) if count < shortest_sound]


def dedup_flow_problems(counts: dict[str, int]) -> list[str]:
    """What went missing between the near-duplicate steps, from a run's summed dedup counts:
    one message per hop whose two counts differ (FLOW_HOPS), a count no step sent being 0;
    empty when they agree or there are no counts at all.

    Why: one 100,000-page run (session 15) found 1,983 fewer near duplicates than four others
    on the same input, with no error; its candidate pairs had gone missing somewhere between
    these steps. The counts say where, the next time."""
    if not counts:
        return []
    problems = []
    for sent, received, what in FLOW_HOPS:
        if counts.get(sent, 0) != counts.get(received, 0):
            problems.append(f"{what}: {counts.get(sent, 0)} sent, {counts.get(received, 0)} received")
    return problems


def dedup_problems(counts: dict[str, int]) -> list[str]:
    """Every reason to doubt a run's near-duplicate search: hops that disagree, then pair
    partitions that came out uneven; empty for a sound run."""
    return ([f"dedup steps disagree on {problem}" for problem in dedup_flow_problems(counts)]
            + [f"dedup {problem}" for problem in uneven_pair_partitions(counts)])


def format_dedup_counts(counts: dict[str, int]) -> str:
    """The run summary's line on near-duplicate search, with the checks of the hops and of the
    pair partitions."""
    lost, uneven = dedup_flow_problems(counts), uneven_pair_partitions(counts)
    failed = ([f"STEPS DISAGREE: {'; '.join(lost)}"] if lost else []) + (
        [f"PAIR PARTITIONS UNEVEN: {'; '.join(uneven)}"] if uneven else [])
    check = "; ".join(failed) or "steps agree"
    return (f"  near dups   {counts.get(CANDIDATE_PAIRS, 0)} candidate pairs, {counts.get(PAIRS_JUDGED, 0)} judged, "
            f"{counts.get(NEAR_EDGES, 0)} near-duplicate edges; {check}")


KEPT = "kept"
DUPLICATES = "duplicates"
EXACT_OF_NEW = "exact_of_new"  # exact copies whose kept document may itself turn out a near duplicate
DECISIONS = "decisions"
INDEX = "index"


def keep_rank(doc: dict[str, Any], prior: bool = False) -> tuple:
    """Sort key of the kept copy: an earlier run's document first (it is published already),
    then most text, then earliest date (none last), then smallest id."""
    published = doc.get("published")
    return (not prior, -doc["n_chars"], published is None, published.isoformat() if published else "",
            doc["doc_id"])


def duplicate_row(doc: dict[str, Any], kept_id: str, kind: str, similarity: float) -> dict[str, Any]:
    return {**doc, "duplicate_of": kept_id, "duplicate_kind": kind, "similarity": similarity}


# A document's fate, decided on slim records: kept, or a duplicate of `of` (kind, similarity).
KEEP = ("keep", None, None, None)


def duplicate_of(kept_id: str, kind: str, similarity: float) -> tuple:
    return ("duplicate", kept_id, kind, similarity)


def _split_exact(item: tuple[str, dict[str, Iterable[dict[str, Any]]]]) -> list[Routed]:
    """One body hash: KEPT (the best-ranked new slim record), EXACT_OF_NEW (kept id, copy's
    location) for its copies, or DECISIONS (location, decision) when an earlier run kept this
    body already."""
    _, grouped = item
    ranked = sorted(grouped["new"], key=_rank)
    priors = sorted(grouped.get("prior", ()), key=_rank)
    if not ranked:
        return []  # only an earlier run's document has this body
    if priors:  # a copy of a document an earlier run kept: final, whatever else it resembles
        return [route(DECISIONS, (location(dup), duplicate_of(priors[0]["doc_id"], "exact", 1.0))) for dup in ranked]
    return [route(KEPT, ranked[0])] + [route(EXACT_OF_NEW, (ranked[0]["doc_id"], location(dup))) for dup in ranked[1:]]


def assign_clusters(edges: Iterable[tuple[str, str, float, tuple, tuple]], min_linkage: float,
                    edges_per_member: int = NearDupConfig.linkage_edges_per_member
                    ) -> Iterator[tuple[str, tuple[str, float]]]:
    """(doc_id, (kept doc_id, similarity to it)) for every non-kept member of each component."""
    edges = list(edges)
    ranks: dict[str, tuple] = {}
    for a, b, _, rank_a, rank_b in edges:
        ranks[a], ranks[b] = rank_a, rank_b
    plain = [(a, b, s) for a, b, s, _, _ in edges]
    components = linked_clusters(plain, min_linkage, edges_per_member)
    # Each edge filed once under its component: scanning every edge per component was
    # quadratic in the corpus (0.03 -> 0.12 ms/doc from 5k to 20k synthetic documents).
    component_of = {doc_id: number for number, component in enumerate(components) for doc_id in component}
    edges_of: list[list[tuple[str, str, float]]] = [[] for _ in components]
    for a, b, s in plain:
        if a in component_of and component_of[a] == component_of.get(b):
            edges_of[component_of[a]].append((a, b, s))
    for component, member_edges in zip(components, edges_of):
        kept = min(component, key=lambda doc_id: ranks[doc_id])
        for doc_id, similarity in sorted(widest_paths(kept, member_edges).items()):
            yield doc_id, (kept, round(similarity, 4))


def slim_record(doc: dict[str, Any], config: NearDupConfig, shard: int | None = None,
                staged: str | None = None, spill: SpillWriter | None = None) -> dict[str, Any]:
    """What deduplication needs of a document: its id, body hash, kept-copy rank and
    fingerprint, and where the full document waits (its output shard and staging file, see
    transforms.write.StageDocuments). Only these travel through the dedup shuffles; with a
    `spill` writer the fingerprint waits in the staging file's spill file instead, and the
    record says where (transforms.spill)."""
    fp = fingerprint(doc["doc_id"], doc["text"], doc.get("language"), config)
    return {"doc_id": doc["doc_id"], "content_hash": doc["content_hash"], "n_chars": doc["n_chars"],
            "published": doc.get("published"), "prior": False, "shard": shard, "staged": staged,
            "fp": fp if spill is None else (staged, *spill.write(fp))}


def location(slim: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """(doc_id, shard, staging file) of a new document's slim record."""
    return slim["doc_id"], slim["shard"], slim["staged"]


def slim_from_index(row: dict[str, Any], spill: SpillWriter | None = None) -> dict[str, Any]:
    """The slim record of an earlier run's kept document (an index row, transforms.state),
    with the run that kept it. With a `spill` writer its fingerprint waits in that writer's
    spill file, as a new document's does (`slim_record`)."""
    fp = fingerprint_from_index(row)
    return {"doc_id": row["doc_id"], "content_hash": row["content_hash"], "n_chars": row["n_chars"],
            "published": row.get("published"), "prior": True, "run_id": row["run_id"],
            "fp": fp if spill is None else (spill.staged, *spill.write(fp))}


def _rank(slim: dict[str, Any]) -> tuple:
    return keep_rank(slim, prior=slim["prior"])


def _keyed_fingerprint(slim: dict[str, Any]) -> tuple[str, tuple[Fingerprint, tuple]]:
    return slim["doc_id"], (slim["fp"], _rank(slim))


def fingerprint_from_index(row: dict[str, Any]) -> Fingerprint:
    """The Fingerprint an index row (transforms.state) stores."""
    return Fingerprint(row["doc_id"], row["sentences"])


def index_row(slim: dict[str, Any], run_id: str) -> dict[str, Any]:
    """What the next incremental run needs of a kept document to find copies of it."""
    return {"doc_id": slim["doc_id"], "content_hash": slim["content_hash"], "n_chars": slim["n_chars"],
            "published": slim.get("published"),
            "sentences": [ids.tolist() for ids in load_fingerprint(slim["doc_id"], slim["fp"]).sorted_ids()],
            "run_id": run_id}


def _is_prior(rank: tuple) -> bool:
    return not rank[0]


KEY = "key"
PAIR = "pair"
CANDIDATE = "candidate"
EDGE = "edge"
NEAR = "near"


def _lsh_keys(kv: tuple[str, tuple[Fingerprint, tuple]], config: NearDupConfig) -> list[tuple[int, bytes]]:
    """A document's LSH keys as (partition, blob) (`packed_keys`)."""
    _, (fp, rank) = kv
    return packed_keys(fp, _is_prior(rank), config)


def _routed_lsh_keys(kv: tuple[str, tuple[Fingerprint, tuple]], config: NearDupConfig) -> Iterator[Routed]:
    keys = _lsh_keys(kv, config)
    for key in keys:
        yield route(KEY, key)
    yield _count(KEY_BLOBS_MADE, len(keys))


def _sentence_blobs(item: tuple[str, tuple[Fingerprint, tuple]], partitions: int) -> list[tuple[int, bytes]]:
    """A document's sentence hashes as (partition, doc_id | 8-byte hashes) blobs: one element
    per partition, not per sentence (see NearDupConfig.lsh_partitions)."""
    doc_id, (fp, _) = item
    by_partition: dict[int, set[bytes]] = {}
    for sentence in set(sentence_hashes(fp)):
        digest = bytes.fromhex(sentence)
        by_partition.setdefault(partition_of(digest, partitions), set()).add(digest)
    head = pack_id(doc_id)
    return [(partition, head + b"".join(sorted(digests))) for partition, digests in sorted(by_partition.items())]


_COUNT_ENTRY = 12  # a shared sentence's 8-byte hash, then how many documents hold it (uint32)


def _count_sentences(item: tuple[int, Iterable[bytes]]) -> Iterator[tuple[str, bytes]]:
    """(doc_id, packed counts) per document with sentences on 2+ documents in this partition:
    a count of 1 is the default, so only shared sentences travel back, and a document's counts
    go as one bytes object (`unpack_counts`), not one element each: 805,000 of them at 100,000
    pages, held as objects in the join that attaches them."""
    _, blobs = item
    holders: dict[bytes, set[str]] = {}
    for blob in blobs:
        doc_id, start = unpack_id(blob, 0)
        for at in range(start, len(blob), 8):
            holders.setdefault(blob[at:at + 8], set()).add(doc_id)
    shared: dict[str, list[bytes]] = {}
    for digest, doc_ids in holders.items():
        if len(doc_ids) > 1:
            entry = digest + len(doc_ids).to_bytes(4, "little")
            for doc_id in doc_ids:
                shared.setdefault(doc_id, []).append(entry)
    for doc_id in sorted(shared):
        yield doc_id, b"".join(sorted(shared[doc_id]))


def unpack_counts(packed: Iterable[bytes]) -> dict[str, int]:
    """A document's packed counts (`_count_sentences`) -> {sentence hash: documents holding it}."""
    return {blob[at:at + 8].hex(): int.from_bytes(blob[at + 8:at + _COUNT_ENTRY], "little")
            for blob in packed for at in range(0, len(blob), _COUNT_ENTRY)}


FINGERPRINT = "fingerprint"
FIRST = "first"


def _attach_frequencies(item) -> Iterator[Routed]:
    """One document's fingerprint, its shared sentences' counts, the candidate pairs it comes
    first in and a mark per pair it comes second in -> FINGERPRINT (doc_id, (fingerprint with
    frequencies, rank)) when it is second in some pair and, per pair it is first in, FIRST (the
    other doc_id, (that fingerprint, rank)), with DEDUP_COUNT how many pairs it is first in;
    a spilled fingerprint goes on as where it waits and its counts (`defer_counted`). A
    document in no pair sends nothing on: on the in-memory runner each shuffle holds its whole
    input, and most documents are in no pair."""
    doc_id, grouped = item
    firsts = list(grouped["pairs"])
    second = any(True for _ in grouped["seconds"])
    if not firsts and not second:
        return
    if firsts:
        yield _count(CANDIDATE_PAIRS_JOINED, len(firsts))
    counts = unpack_counts(grouped["counts"])
    for source, rank in grouped["fingerprint"]:
        weighted = (defer_counted(with_frequencies(load_fingerprint(doc_id, source), counts), source), rank)
        if second:
            yield route(FINGERPRINT, (doc_id, weighted))
        for other in firsts:
            yield route(FIRST, (other, weighted))


class _ClosesSpills(beam.DoFn):
    """A step that reads spilled fingerprints (transforms.spill) closes the spill files at the
    end of each bundle: a long-lived worker (a Dask cluster) would otherwise hold the deleted
    spill files of finished runs open, and their disk space with them."""

    def finish_bundle(self) -> None:
        close_spills()


class _LoadFingerprints(_ClosesSpills):
    def process(self, item: tuple[str, tuple[Any, tuple]]) -> Iterator[tuple[str, tuple[Fingerprint, tuple]]]:
        doc_id, (source, rank) = item
        yield doc_id, (load_fingerprint(doc_id, source), rank)


class _AttachCounts(_ClosesSpills):
    def process(self, item):
        yield from _attach_frequencies(item)


class _Verify(_ClosesSpills):
    """A document that is second in candidate pairs, with the firsts' counted fingerprints ->
    EDGE (None, verified edge) for each pair that is a near duplicate, and its counts."""

    def __init__(self, config: NearDupConfig) -> None:
        self._config = config

    def process(self, item: tuple[str, dict[str, Iterable]]) -> Iterator[Routed]:
        _, grouped = item
        # Usually one second; a document can be first in many pairs, so the firsts stream.
        seconds = [(resolve_counted(fp), rank) for fp, rank in grouped["fingerprint"]]
        # Counted once per pair of ids: a doc_id read twice with different bodies (overlapping
        # globs, a file changed in between) has two fingerprints, judged against each other's.
        judged: set[tuple[str, str]] = set()
        edges = 0
        for fp_a, rank_a in grouped["firsts"]:
            fp_a = resolve_counted(fp_a)
            for fp_b, rank_b in seconds:
                similarity = verify(fp_a, fp_b, self._config)
                judged.add((fp_a.doc_id, fp_b.doc_id))
                if similarity is not None:
                    edges += 1
                    yield route(EDGE, (None, (fp_a.doc_id, fp_b.doc_id, similarity, rank_a, rank_b)))
        yield _count(PAIRS_JUDGED, len(judged))
        yield _count(NEAR_EDGES, edges)


class _SpillKeys(beam.DoFn):
    """(doc_id, (fingerprint, rank)) -> KEY (LSH partition, key file) once per partition a
    bundle meets, and the document's count; its key blobs are appended to those files, closed
    at the end of the bundle. The path goes out with the bundle's first blob for it, not from finish_bundle:
    the DaskRunner drops what finish_bundle emits, and a shuffle is read only once the bundle
    that wrote it has finished."""

    def __init__(self, config: NearDupConfig, folder: str) -> None:
        self._config = config
        self._folder = folder

    def start_bundle(self) -> None:
        self._writers: dict[int, BlobFileWriter] = {}

    def process(self, kv: tuple[str, tuple[Fingerprint, tuple]]) -> Iterator[Routed]:
        keys = _lsh_keys(kv, self._config)
        for partition, blob in keys:
            writer = self._writers.get(partition)
            if writer is None:
                writer = self._writers[partition] = BlobFileWriter(self._folder, KEYS_SUFFIX)
                yield route(KEY, (partition, writer.path))
            writer.write(blob)
        yield _count(KEY_BLOBS_MADE, len(keys))

    def finish_bundle(self) -> None:
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()


class NearDuplicates(beam.PTransform):
    """(doc_id, (fingerprint or where it was spilled, keep rank)) -> {NEAR: (doc_id, (kept
    doc_id, similarity)) for each document that is a near duplicate (earlier runs' documents
    rank first, see keep_rank), DEDUP_COUNT: (name, count) of what the steps handed each
    other, to be summed}. A spilled fingerprint (transforms.spill) is read back to make keys
    and sentence hashes and, only for the documents in a candidate pair, to attach counts and
    once per pair where it is judged.

    With `spill_folder`, LSH key blobs and the blobs of colliding pairs wait in files there and
    only their paths are shuffled (transforms.spill): the same decisions, without the two
    largest dedup shuffles in the runner's memory and in each local worker's."""

    def __init__(self, config: NearDupConfig, spill_folder: str | None = None) -> None:
        super().__init__()
        self._config = config
        self._spill_folder = spill_folder

    def expand(self, raw):
        config = self._config
        loaded = raw | "LoadFingerprints" >> beam.ParDo(_LoadFingerprints())
        counts = (loaded
                  | "SentenceHashes" >> beam.FlatMap(_sentence_blobs, config.lsh_partitions)
                  | "GroupSentencesByPartition" >> beam.GroupByKey()
                  | "CountSentenceDocs" >> beam.FlatMap(_count_sentences))

        folder = self._spill_folder

        def blobs(values, tally: list[int], unit):
            """A shuffle's values (the blobs themselves, or the files holding them), counted
            into `tally` as they are read."""
            for blob in (values if folder is None else read_blobs(values)):
                tally[0] += unit(blob)
                yield blob

        def bucketed(kv):
            grouped, made = [0], 0
            for target, blob in partition_pairs(blobs(kv[1], grouped, lambda _: 1), config):
                made += len(blob)
                yield route(PAIR, (target, blob if folder is None else write_blob_file(folder, PAIRS_SUFFIX, blob)))
            # one count per group, not per blob
            yield _count(KEY_BLOBS_GROUPED, grouped[0])
            yield _count(PAIR_BYTES_MADE, made)

        def enough_collisions(kv: tuple[int, Iterable]) -> Iterator[Routed]:
            grouped = [0]
            pairs = list(worth_verifying_pairs(blobs(kv[1], grouped, len), config))
            for pair in pairs:
                yield route(CANDIDATE, pair)
            yield _count(PAIR_BYTES_GROUPED, grouped[0])
            yield _count(CANDIDATE_PAIRS, len(pairs))
            # zero too: a partition that kept nothing must report so
            yield _count(f"{FIRSTS_PREFIX}{kv[0]}", len({first for first, _ in pairs}))

        keys = (loaded
                | "LshKeys" >> (beam.FlatMap(_routed_lsh_keys, config) if folder is None
                                else beam.ParDo(_SpillKeys(config, folder)))
                | "RouteKeys" >> SplitRoutes(KEY, DEDUP_COUNT))
        pairs = (keys[KEY]
                 | "GroupByLshPartition" >> beam.GroupByKey()
                 | "BucketPairs" >> beam.FlatMap(bucketed)
                 | "RoutePairs" >> SplitRoutes(PAIR, DEDUP_COUNT))
        candidates = (pairs[PAIR]
                      | "GroupPairsByFirst" >> beam.GroupByKey()
                      | "EnoughCollisions" >> beam.FlatMap(enough_collisions)
                      | "RouteCandidates" >> SplitRoutes(CANDIDATE, DEDUP_COUNT))
        seconds = candidates[CANDIDATE] | "MarkSeconds" >> beam.Map(lambda pair: (pair[1], None))
        joined = ({"fingerprint": raw, "counts": counts, "pairs": candidates[CANDIDATE], "seconds": seconds}
                  | "JoinCountsAndPairs" >> beam.CoGroupByKey()
                  | "AttachCounts" >> beam.ParDo(_AttachCounts())
                  | "RouteFingerprints" >> SplitRoutes(FINGERPRINT, FIRST, DEDUP_COUNT))

        edges = ({"firsts": joined[FIRST], "fingerprint": joined[FINGERPRINT]}
                 | "JoinSecond" >> beam.CoGroupByKey()
                 | "Verify" >> beam.ParDo(_Verify(config))
                 | "RouteEdges" >> SplitRoutes(EDGE, DEDUP_COUNT))
        # Only verified edges meet in one place: a small graph even for a large corpus.
        near = (edges[EDGE]
                | "GatherEdges" >> beam.GroupByKey()
                | "Components" >> beam.FlatMap(_components, config)
                | "RouteNear" >> SplitRoutes(NEAR, DEDUP_COUNT))
        seeds = raw.pipeline | "PairPartitionSeeds" >> beam.Create(pair_partition_seeds(config.lsh_partitions))
        dedup_counts = ((seeds, keys[DEDUP_COUNT], pairs[DEDUP_COUNT], candidates[DEDUP_COUNT],
                         joined[DEDUP_COUNT], edges[DEDUP_COUNT], near[DEDUP_COUNT])
                        | "AllDedupCounts" >> beam.Flatten())
        return {NEAR: near[NEAR], DEDUP_COUNT: dedup_counts}


def _components(item: tuple[None, Iterable[tuple]], config: NearDupConfig) -> Iterator[Routed]:
    edges = list(item[1])
    yield _count(EDGES_GATHERED, len(edges))
    for assignment in assign_clusters(edges, config.min_linkage, config.linkage_edges_per_member):
        yield route(NEAR, assignment)


def _decide(item, with_index: bool = True) -> Iterator[Routed]:
    """One kept slim record with its exact copies and near assignment -> DECISIONS
    (location, decision) for it and each copy, and, with_index, INDEX (its slim record) when
    it stays kept."""
    doc_id, grouped = item
    assignment = list(grouped["near"])
    copies = sorted(grouped["exact"], key=str)
    if assignment:
        kept, similarity = assignment[0]
        own = copied = duplicate_of(kept, "near", similarity)
        # Exact copies of a near duplicate point at the document that is kept, never at a duplicate.
    else:
        own, copied = KEEP, duplicate_of(doc_id, "exact", 1.0)
    for slim in grouped["kept"]:
        yield route(DECISIONS, (location(slim), own))
        if with_index and not assignment:
            yield route(INDEX, slim)
        for copy in copies:
            yield route(DECISIONS, (copy, copied))


def decision_order(decision: tuple) -> tuple:
    """Sort key for the decisions of one doc_id: the kept one first, then a stable order."""
    return decision[0] != "keep", str(decision)


def apply_decisions(docs: Iterable[dict[str, Any]], decisions: Iterable[tuple]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The documents of one doc_id and their decisions -> ("documents", doc) or ("duplicates",
    duplicate row). Two inputs with one source (globs that overlap) share a doc_id: the kept
    decision goes to the first, the copies' decisions to the others; a document without a
    decision (a bug) is kept and logged, never dropped."""
    docs = list(docs)
    decisions = sorted(decisions, key=decision_order)
    if len(decisions) != len(docs):
        LOG.error("dedup: %s has %d documents and %d decisions; unmatched documents are kept",
                  docs[0]["doc_id"] if docs else "?", len(docs), len(decisions))
    for index, doc in enumerate(docs):
        verdict, kept, kind, similarity = decisions[index] if index < len(decisions) else KEEP
        if verdict == "keep":
            yield "documents", doc
        else:
            yield "duplicates", duplicate_row(doc, kept, kind, similarity)


def _join_decisions(item) -> Iterator[Routed]:
    _, grouped = item
    for table, row in apply_decisions(grouped["doc"], grouped["decision"]):
        yield route(KEPT if table == "documents" else DUPLICATES, row)


class DecideDuplicates(beam.PTransform):
    """Slim records (`slim_record`), or (slim records, {"current": slim records of earlier
    runs' kept documents, "superseded": those of inputs ingested again} (`slim_from_index`))
    -> {"decisions": (location, decision) for every new document, "index": slim records of the
    documents kept, "counts": (name, count) of the near-duplicate steps, to be summed and
    checked (`dedup_problems`)}.

    Exact copies by body hash, then near copies (NearDuplicates) among the kept ones; every
    step keyed, on slim records only.

    `spill_folder`: where LSH keys and colliding pairs wait instead of the shuffles (NearDuplicates).

    with_index=False (a run without `--state` writes no index) leaves "index" empty and drops
    the fingerprints before the last join, which then carries ~330 bytes a document instead of
    ~2.4 KB (the in-memory runner holds a shuffle's whole input, then its encoded output, until
    the step that reads it has run)."""

    def __init__(self, config: NearDupConfig = NearDupConfig(), with_index: bool = True,
                 spill_folder: str | None = None) -> None:
        super().__init__()
        self._config = config
        self._with_index = with_index
        self._spill_folder = spill_folder

    def expand(self, inputs):
        slim, priors = inputs if isinstance(inputs, tuple) else (inputs, None)
        config = self._config
        by_hash = {"new": slim | "KeyByContentHash" >> beam.Map(lambda d: (d["content_hash"], d))}
        current = None
        if priors:
            current, superseded = priors["current"], priors["superseded"]
            by_hash["prior"] = ((current, superseded)
                                | "AllPriors" >> beam.Flatten()
                                | "KeyPriorByContentHash" >> beam.Map(lambda d: (d["content_hash"], d)))
        exact = (by_hash
                 | "GroupExactCopies" >> beam.CoGroupByKey()
                 | "KeepOnePerHash" >> beam.FlatMap(_split_exact)
                 | "RouteExact" >> SplitRoutes(KEPT, EXACT_OF_NEW, DECISIONS))
        fingerprints = exact[KEPT] | "KeyedFingerprints" >> beam.Map(_keyed_fingerprint)
        if current is not None:
            fingerprints = ((fingerprints, current | "PriorFingerprints" >> beam.Map(_keyed_fingerprint))
                            | "WithPriorFingerprints" >> beam.Flatten())
        found = fingerprints | "NearDuplicates" >> NearDuplicates(config, self._spill_folder)
        with_index = self._with_index
        decided = ({"kept": exact[KEPT] | "KeyKept" >> beam.Map(
                        lambda d: (d["doc_id"], d if with_index else {k: v for k, v in d.items() if k != "fp"})),
                    "exact": exact[EXACT_OF_NEW],
                    "near": found[NEAR]}
                   | "JoinAssignments" >> beam.CoGroupByKey()
                   | "Decide" >> beam.FlatMap(_decide, with_index)
                   | "RouteDecisions" >> SplitRoutes(DECISIONS, INDEX))
        decisions = (decided[DECISIONS], exact[DECISIONS]) | "AllDecisions" >> beam.Flatten()
        return {"decisions": decisions, "index": decided[INDEX], "counts": found[DEDUP_COUNT]}


class DeduplicateDocuments(beam.PTransform):
    """Full documents in, for tests and benchmarks: docs[, priors] -> {"kept", "duplicates",
    "index"}. The pipeline itself stages documents in files instead of joining them
    (transforms.write.StageDocuments / FinalizeDocumentShards) and shares `DecideDuplicates`."""

    def __init__(self, config: NearDupConfig = NearDupConfig()) -> None:
        super().__init__()
        self._config = config

    def expand(self, inputs):
        docs, priors = inputs if isinstance(inputs, tuple) else (inputs, None)
        slim = docs | "SlimRecords" >> beam.Map(slim_record, self._config)
        decided = (slim if priors is None else (slim, priors)) | "Decide" >> DecideDuplicates(self._config)
        decisions = decided["decisions"] | "KeyDecisionByDoc" >> beam.Map(lambda d: (d[0][0], d[1]))
        split = ({"doc": docs | "KeyDocs" >> beam.Map(lambda d: (d["doc_id"], d)), "decision": decisions}
                 | "JoinDecisions" >> beam.CoGroupByKey()
                 | "KeepOrDrop" >> beam.FlatMap(_join_decisions)
                 | "RouteFinal" >> SplitRoutes(KEPT, DUPLICATES))
        return {"kept": split[KEPT], "duplicates": split[DUPLICATES], "index": decided["index"]}
