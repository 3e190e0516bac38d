"""Record types and the Parquet schemas of the three output tables, defined once.

Every stage passes plain dicts keyed by the column names below (cheap to pickle between Beam
steps, and what `pyarrow.Table.from_pylist` takes); the dataclasses name the intermediate
values that pure functions return.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
from typing import Any, TypedDict

import pyarrow as pa

SCHEMA_VERSION = "1"

# Machine-readable reject reasons; README documents each one.
REJECT_REASONS = {
    "empty": "the file has no bytes, or only white space",
    "binary": "the bytes are not text (image, archive, executable, random data)",
    "undecodable": "no text encoding decodes the bytes",
    "too_large": "the raw or decompressed size, line length or line count is over a limit",
    "no_content": "cleaning left no article text",
    "read_error": "the file could not be opened or read, or its compression is corrupt",
    "not_a_file": "the glob matched a directory or something else that is not a regular file",
    "timeout": "extracting or cleaning the page took longer than the per-document limit",
    "internal_error": "an unexpected exception in a per-document step (a bug: please report)",
}

FORMAT_TEXT = "text"
FORMAT_HTML = "html"


@dataclasses.dataclass(frozen=True)
class RemovedLine:
    """One line dropped from a page's body, and the classifier's reason for it."""

    text: str
    reason: str


@dataclasses.dataclass(frozen=True)
class CleanResult:
    """What a cleaner makes of one page: the article and what was taken out of it."""

    title: str | None
    author: str | None
    published: datetime.date | None
    paragraphs: tuple[str, ...]
    removed: tuple[RemovedLine, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


class RejectRow(TypedDict):
    doc_id: str
    source: str
    reason: str
    detail: str


def _field(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


REMOVED_LINE_TYPE = pa.struct([("text", pa.string()), ("reason", pa.string())])

DOCUMENT_FIELDS = [
    _field("doc_id", pa.string(), "Stable id: first 16 hex digits of SHA-256 of the source URI.", False),
    _field("source", pa.string(), "URI of the raw input file, as matched by the input glob.", False),
    _field("format", pa.string(), "How the page was read and cleaned: 'text' or 'html'.", False),
    _field("encoding", pa.string(), "Text encoding the raw bytes were decoded with."),
    _field("title", pa.string(), "Headline of the article; null when none was recognised."),
    _field("author", pa.string(), "Byline (author names) when visible on the page; else null."),
    _field("published", pa.date32(), "Publication date when visible on the page; else null."),
    _field("text", pa.string(), "Clean article body; paragraphs separated by one blank line.", False),
    _field("language", pa.string(), "ISO 639-1 code of the body's language, or 'und' when unsure.", False),
    _field("language_score", pa.float64(), "Length-weighted share of paragraphs voting for `language` (0-1).", False),
    _field("content_hash", pa.string(), "SHA-256 of the normalised body; equal for exact duplicates.", False),
    _field("n_chars", pa.int64(), "Number of characters in `text`.", False),
    _field("removed", pa.list_(REMOVED_LINE_TYPE), "Every line dropped from the body, with the reason.", False),
]

DUPLICATE_EXTRA_FIELDS = [
    _field("duplicate_of", pa.string(), "doc_id of the kept document this one duplicates.", False),
    _field("duplicate_kind", pa.string(), "'exact' (same normalised body) or 'near' (near-identical copy).", False),
    _field("similarity", pa.float64(), "Similarity to the kept document, 0-1 (1 for exact copies).", False),
]

REJECT_FIELDS = [
    _field("doc_id", pa.string(), "Id the document would have had (hash of the source URI).", False),
    _field("source", pa.string(), "URI of the raw input file.", False),
    _field("reason", pa.string(), "Machine-readable reason code; see README for the list.", False),
    _field("detail", pa.string(), "What went wrong, in a sentence for a person.", False),
]


def _schema(fields: list[pa.Field], table: str) -> pa.Schema:
    return pa.schema(fields, metadata={"table": table, "schema_version": SCHEMA_VERSION})


# State tables (`--state`): what a scheduled run needs from the runs before it.
MANIFEST_FIELDS = [
    _field("source", pa.string(), "URI of an input already ingested.", False),
    _field("size", pa.int64(), "Its size in bytes when it was ingested.", False),
    _field("sha256", pa.string(), "SHA-256 of its raw bytes when it was ingested.", False),
    _field("doc_id", pa.string(), "The id its row has in documents, duplicates or rejects.", False),
    _field("run_id", pa.string(), "The run that ingested it.", False),
]

INDEX_FIELDS = [
    _field("doc_id", pa.string(), "A kept document of an earlier run.", False),
    _field("content_hash", pa.string(), "Its content_hash (finds exact copies).", False),
    _field("n_chars", pa.int64(), "Its n_chars (the kept-copy rule).", False),
    _field("published", pa.date32(), "Its published date (the kept-copy rule)."),
    _field("sentences", pa.list_(pa.list_(pa.uint32())),
           "Near-duplicate fingerprint: per sentence, the ids of its content words.", False),
    _field("run_id", pa.string(), "The run that kept it.", False),
]

DOCUMENT_SCHEMA = _schema(DOCUMENT_FIELDS, "documents")
DUPLICATE_SCHEMA = _schema(DOCUMENT_FIELDS + DUPLICATE_EXTRA_FIELDS, "duplicates")
REJECT_SCHEMA = _schema(REJECT_FIELDS, "rejects")
MANIFEST_SCHEMA = _schema(MANIFEST_FIELDS, "manifest")
INDEX_SCHEMA = _schema(INDEX_FIELDS, "index")

# The tables a run publishes for readers...
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "documents": DOCUMENT_SCHEMA,
    "duplicates": DUPLICATE_SCHEMA,
    "rejects": REJECT_SCHEMA,
}
# ...and the ones it keeps in the state folder for the next run.
STATE_SCHEMAS: dict[str, pa.Schema] = {
    "manifest": MANIFEST_SCHEMA,
    "index": INDEX_SCHEMA,
}
ALL_SCHEMAS: dict[str, pa.Schema] = {**TABLE_SCHEMAS, **STATE_SCHEMAS}


def doc_id_for(source: str) -> str:
    """The document id: a pure function of the source URI, so every runner agrees on it."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def make_reject(source: str, reason: str, detail: str) -> RejectRow:
    if reason not in REJECT_REASONS:
        raise ValueError(f"unknown reject reason {reason!r}")
    return {"doc_id": doc_id_for(source), "source": source, "reason": reason, "detail": detail}


def project(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """The row restricted to a schema's columns (missing ones as null), in schema order."""
    return {name: row.get(name) for name in schema.names}
