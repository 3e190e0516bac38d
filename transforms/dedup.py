"""Dedup stage: exact copies (normalised body hash), then near duplicates (transforms.neardup),
each as keyed Beam steps, so no worker ever compares all pairs or holds the corpus.

Kept-copy rule (documented in README): in each cluster the kept document is the one with the
most characters of clean text, then the earliest `published` date (unknown dates last), then
the smallest `doc_id`. Every duplicate row names the kept document (`duplicate_of`, always a
row of the documents table) and its similarity to it.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Iterable, Iterator

import apache_beam as beam

from transforms.neardup import (Fingerprint, NearDupConfig, bucket_pairs, candidate_keys, linked_clusters,
                                fingerprint, informative, sentence_hashes, verify, widest_paths,
                                with_frequencies, worth_verifying)

_SPACE = re.compile(r"\s+")
DedupConfig = NearDupConfig  # the stage's settings are the near-duplicate thresholds


def normalize_for_hash(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8", "surrogatepass")).hexdigest()


def keep_rank(doc: dict[str, Any]) -> tuple:
    """Sort key of the kept copy: most text, then earliest date (none last), then smallest id."""
    published = doc.get("published")
    return (-doc["n_chars"], published is None, published.isoformat() if published else "", doc["doc_id"])


def _split_exact(item: tuple[str, Iterable[dict[str, Any]]]) -> Iterator[Any]:
    _, docs = item
    ranked = sorted(docs, key=keep_rank)
    yield ranked[0]
    for dup in ranked[1:]:
        yield beam.pvalue.TaggedOutput(
            "duplicates", {**dup, "duplicate_of": ranked[0]["doc_id"], "duplicate_kind": "exact", "similarity": 1.0})


def assign_clusters(edges: Iterable[tuple[str, str, float, tuple, tuple]], min_linkage: float
                    ) -> Iterator[tuple[str, tuple[str, float]]]:
    """(doc_id, (kept doc_id, similarity to it)) for every non-kept member of each component."""
    edges = list(edges)
    ranks: dict[str, tuple] = {}
    for a, b, _, rank_a, rank_b in edges:
        ranks[a], ranks[b] = rank_a, rank_b
    plain = [(a, b, s) for a, b, s, _, _ in edges]
    for component in linked_clusters(plain, min_linkage):
        kept = min(component, key=lambda doc_id: ranks[doc_id])
        members = set(component)
        member_edges = [e for e in plain if e[0] in members and e[1] in members]
        for doc_id, similarity in sorted(widest_paths(kept, member_edges).items()):
            yield doc_id, (kept, round(similarity, 4))


class _Fingerprint(beam.DoFn):
    def __init__(self, config: NearDupConfig) -> None:
        self._config = config

    def process(self, doc: dict[str, Any]) -> Iterator[tuple[str, tuple[Fingerprint, tuple]]]:
        fp = fingerprint(doc["doc_id"], doc["text"], doc.get("language"), self._config)
        yield doc["doc_id"], (fp, keep_rank(doc))


def _count_sentences(item: tuple[str, Iterable[str]]) -> Iterator[tuple[str, tuple[str, int]]]:
    sentence, doc_ids = item
    doc_ids = sorted(set(doc_ids))
    if len(doc_ids) > 1:  # a count of 1 is the default; only shared sentences travel back
        for doc_id in doc_ids:
            yield doc_id, (sentence, len(doc_ids))


def _attach_frequencies(item) -> Iterator[tuple[str, tuple[Fingerprint, tuple]]]:
    doc_id, grouped = item
    counts = dict(grouped["counts"])
    for fp, rank in grouped["fingerprint"]:
        yield doc_id, (with_frequencies(fp, counts), rank)


class NearDuplicates(beam.PTransform):
    """docs -> (doc_id, (kept doc_id, similarity)) for each document that is a near duplicate."""

    def __init__(self, config: NearDupConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, docs):
        config = self._config
        raw = docs | "Fingerprint" >> beam.ParDo(_Fingerprint(config))
        counts = (raw
                  | "SentenceHashes" >> beam.FlatMap(
                      lambda kv: [(h, kv[0]) for h in set(sentence_hashes(kv[1][0]))])
                  | "GroupBySentence" >> beam.GroupByKey()
                  | "CountSentenceDocs" >> beam.FlatMap(_count_sentences))
        fingerprints = ({"fingerprint": raw, "counts": counts}
                        | "JoinCounts" >> beam.CoGroupByKey()
                        | "AttachCounts" >> beam.FlatMap(_attach_frequencies))

        def keys(kv):
            doc_id, (fp, _) = kv
            n_informative = min(len(informative(fp, config)), config.key_sentences)
            return [(key, (doc_id, sentence, n_informative)) for key, sentence in candidate_keys(fp, config)]

        def pairs(kv):
            _, members = kv
            members = list(members)
            sizes = {doc_id: n for doc_id, _, n in members}
            for (a, b), hit in bucket_pairs([(doc_id, s) for doc_id, s, _ in members], config):
                yield (a, b), (hit, sizes[a], sizes[b])

        def worth(kv):
            (a, b), hits = kv
            hits = list(hits)
            return worth_verifying([h for h, _, _ in hits], hits[0][1], hits[0][2], config)

        candidates = (fingerprints
                      | "LshKeys" >> beam.FlatMap(keys)
                      | "GroupByLshKey" >> beam.GroupByKey()
                      | "BucketPairs" >> beam.FlatMap(pairs)
                      | "GroupByPair" >> beam.GroupByKey()
                      | "EnoughCollisions" >> beam.Filter(worth)
                      | "PairByFirst" >> beam.Map(lambda kv: kv[0]))

        def with_first(item):
            _, grouped = item
            for fp_a in grouped["fingerprint"]:
                for b in grouped["pairs"]:
                    yield b, fp_a

        def verified(item):
            _, grouped = item
            for fp_b, rank_b in grouped["fingerprint"]:
                for fp_a, rank_a in grouped["firsts"]:
                    similarity = verify(fp_a, fp_b, config)
                    if similarity is not None:
                        yield None, (fp_a.doc_id, fp_b.doc_id, similarity, rank_a, rank_b)

        firsts = ({"pairs": candidates, "fingerprint": fingerprints}
                  | "JoinFirst" >> beam.CoGroupByKey()
                  | "CarryFirst" >> beam.FlatMap(with_first))
        edges = ({"firsts": firsts, "fingerprint": fingerprints}
                 | "JoinSecond" >> beam.CoGroupByKey()
                 | "Verify" >> beam.FlatMap(verified))
        # Only verified edges meet in one place: a small graph even for a large corpus.
        return (edges
                | "GatherEdges" >> beam.GroupByKey()
                | "Components" >> beam.FlatMap(lambda kv: assign_clusters(kv[1], config.min_linkage)))


def _final_split(item) -> Iterator[Any]:
    _, grouped = item
    assignment = list(grouped["near"])
    for doc in grouped["doc"]:
        if not assignment:
            yield doc
            for copy in grouped["exact"]:
                yield beam.pvalue.TaggedOutput("duplicates", copy)
            continue
        kept, similarity = assignment[0]
        yield beam.pvalue.TaggedOutput(
            "duplicates", {**doc, "duplicate_of": kept, "duplicate_kind": "near", "similarity": similarity})
        # Exact copies of a near duplicate point at the document that is kept, never at a duplicate.
        for copy in grouped["exact"]:
            yield beam.pvalue.TaggedOutput(
                "duplicates", {**copy, "duplicate_of": kept, "duplicate_kind": "near", "similarity": similarity})


class DeduplicateDocuments(beam.PTransform):
    """docs -> (kept documents, duplicate rows)."""

    def __init__(self, config: NearDupConfig = NearDupConfig()) -> None:
        super().__init__()
        self._config = config

    def expand(self, docs):
        exact = (docs
                 | "KeyByContentHash" >> beam.Map(lambda d: (d["content_hash"], d))
                 | "GroupExactCopies" >> beam.GroupByKey()
                 | "KeepOnePerHash" >> beam.FlatMap(_split_exact).with_outputs("duplicates", main="kept"))
        near = exact.kept | "NearDuplicates" >> NearDuplicates(self._config)
        split = ({"doc": exact.kept | "KeyKept" >> beam.Map(lambda d: (d["doc_id"], d)),
                  "exact": exact.duplicates | "KeyExactByKept" >> beam.Map(lambda d: (d["duplicate_of"], d)),
                  "near": near}
                 | "JoinAssignments" >> beam.CoGroupByKey()
                 | "KeepOrDrop" >> beam.FlatMap(_final_split).with_outputs("duplicates", main="kept"))
        return split.kept, split.duplicates
