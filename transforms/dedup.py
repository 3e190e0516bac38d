"""Dedup stage (exact copies only, until the near-duplicate stage lands)."""
from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from typing import Any, Iterable, Iterator

import apache_beam as beam

_SPACE = re.compile(r"\s+")


def normalize_for_hash(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8", "surrogatepass")).hexdigest()


def keep_rank(doc: dict[str, Any]) -> tuple:
    """Sort key of the kept copy: most text, then earliest date (none last), then smallest id."""
    published = doc.get("published")
    return (-doc["n_chars"], published is None, published.isoformat() if published else "", doc["doc_id"])


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    pass


def _split_exact(item: tuple[str, Iterable[dict[str, Any]]]) -> Iterator[Any]:
    _, docs = item
    ranked = sorted(docs, key=keep_rank)
    yield ranked[0]
    for dup in ranked[1:]:
        yield beam.pvalue.TaggedOutput(
            "duplicates", {**dup, "duplicate_of": ranked[0]["doc_id"], "duplicate_kind": "exact", "similarity": 1.0})


class DeduplicateDocuments(beam.PTransform):
    def __init__(self, config: DedupConfig = DedupConfig()) -> None:
        super().__init__()
        self._config = config

    def expand(self, docs):
        split = (docs
                 | "KeyByContentHash" >> beam.Map(lambda d: (d["content_hash"], d))
                 | "GroupExactCopies" >> beam.GroupByKey()
                 | "KeepOnePerHash" >> beam.FlatMap(_split_exact).with_outputs("duplicates", main="kept"))
        return split.kept, split.duplicates
