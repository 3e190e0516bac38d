"""Fingerprints wait on disk, not in the dedup shuffles, when the run stages on a local disk.

The in-memory runner holds a shuffle's whole input as objects, then again encoded while it
groups. A document's fingerprint (~2 KB, most of a slim record) went through the exact-copy
shuffle and waited in the join that attaches sentence counts until the LSH steps were done:
at 100,000 pages the run peaked at 2,140 MB during those steps. Written next to the
document's staging file instead (one spill file per staging file, written by the same bundle),
a fingerprint is read back where a step needs it: once to make its LSH keys and sentence
hashes, and, only for the documents in a candidate pair, once to attach its sentence counts
and once per pair where the pair is judged (`defer_counted`).

A read is a seek and ~2 KB: cheap on a local disk, one request each on an object store, so a
run staging on gs:// or s3:// keeps fingerprints in its records (pipeline.assembly).

The two largest dedup shuffles wait the same way, and only file paths go through them: the
LSH key blobs (224 MB at 100,000 pages; one file per bundle and LSH partition) and the blobs
of colliding pairs (285 MB; one file per LSH partition and pair partition), in blob files
(`BlobFileWriter`, `read_blobs`). On the in-memory runner a shuffle is held in the runner's process; with
local worker processes each worker is also sent its part of it.
"""
from __future__ import annotations

import collections
import threading
import uuid
from typing import IO, Iterable, Iterator, Union

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.neardup import Fingerprint

SPILL_SUFFIX = ".fp"
# A step reads the fingerprints of many staging files in no particular order; this many stay open.
_OPEN_FILES = 32

# Where a fingerprint waits: in the record itself, or (staging file, offset, size) in its spill file.
SpilledAt = tuple[str, int, int]
FingerprintSource = Union[Fingerprint, SpilledAt]


def spill_path(staged: str) -> str:
    """The spill file of the fingerprints of a staging file's documents."""
    return staged + SPILL_SUFFIX


class SpillWriter:
    """Appends fingerprints to one spill file; `write` says where each went."""

    def __init__(self, staged: str) -> None:
        self.staged = staged  # what a SpilledAt names
        self.path = spill_path(staged)
        self._handle: IO[bytes] | None = None
        self._offset = 0

    def write(self, fp: Fingerprint) -> tuple[int, int]:
        data = fp.to_bytes()
        if self._handle is None:
            self._handle = FileSystems.create(self.path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._handle.write(data)
        at = self._offset
        self._offset += len(data)
        return at, len(data)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _OpenSpills:
    """The spill files this process reads, kept open (least recently used closed first)."""

    def __init__(self, capacity: int = _OPEN_FILES) -> None:
        self._capacity = capacity
        self._handles: collections.OrderedDict[str, IO[bytes]] = collections.OrderedDict()
        self._lock = threading.Lock()  # DoFns of one process may run in several threads

    def read(self, path: str, offset: int, size: int) -> bytes:
        with self._lock:
            handle = self._handles.pop(path, None)
            if handle is None:
                handle = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
                while len(self._handles) >= self._capacity:
                    self._handles.popitem(last=False)[1].close()
            self._handles[path] = handle
            handle.seek(offset)
            data = handle.read(size)
        if len(data) != size:
            raise IOError(f"spill file {path} holds {len(data)} of the {size} bytes at {offset}")
        return data

    def close_all(self) -> None:
        with self._lock:
            while self._handles:
                self._handles.popitem()[1].close()


_SPILLS = _OpenSpills()


def load_fingerprint(doc_id: str, source: FingerprintSource) -> Fingerprint:
    """The fingerprint itself, read back from its spill file when it waited there."""
    if isinstance(source, Fingerprint):
        return source
    staged, offset, size = source
    return Fingerprint.from_bytes(doc_id, _SPILLS.read(spill_path(staged), offset, size))


# A counted fingerprint on its way to verification, when it was spilled: (doc_id, where it
# waits, its sentences' counts packed, 4 bytes a sentence), a tenth of the fingerprint.
DeferredFingerprint = tuple[str, SpilledAt, bytes]


def defer_counted(counted: Fingerprint, source: FingerprintSource) -> Union[Fingerprint, DeferredFingerprint]:
    """What goes on to verification for a fingerprint with its counts: the fingerprint itself
    when it never waited on disk, else where it waits and the counts, read back together by
    `resolve_counted` where the pair is judged. The verification join holds one of these per
    candidate pair a document is first in; holding whole fingerprints there took its runner from
    ~450 to ~740 MB at 100,000 pages."""
    if isinstance(source, Fingerprint):
        return counted
    return counted.doc_id, source, counted.packed_frequencies


def resolve_counted(item: Union[Fingerprint, DeferredFingerprint]) -> Fingerprint:
    """The fingerprint with its counts that `defer_counted` was given."""
    if isinstance(item, Fingerprint):
        return item
    doc_id, source, frequencies = item
    return load_fingerprint(doc_id, source).with_packed_frequencies(frequencies)


def close_spills() -> None:
    """Close the spill files this process holds open (each step that reads them does, at the
    end of its bundles: transforms.dedup)."""
    _SPILLS.close_all()


PAIRS_SUFFIX = ".pairs"
KEYS_SUFFIX = ".keys"
_FRAME = 4  # bytes of the little-endian length before each blob in a blob file


class BlobFileWriter:
    """Appends blobs to one new file in `folder`, each after its length. A retried bundle
    writes new files, and the ones it wrote before are never read."""

    def __init__(self, folder: str, suffix: str) -> None:
        self.path = FileSystems.join(folder, uuid.uuid4().hex + suffix)
        self._handle: IO[bytes] | None = FileSystems.create(self.path, compression_type=CompressionTypes.UNCOMPRESSED)

    def write(self, blob: bytes) -> None:
        assert self._handle is not None, "write after close"
        self._handle.write(len(blob).to_bytes(_FRAME, "little"))
        self._handle.write(blob)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def write_blob_file(folder: str, suffix: str, blob: bytes) -> str:
    """One blob in a new blob file; returns its path."""
    writer = BlobFileWriter(folder, suffix)
    writer.write(blob)
    writer.close()
    return writer.path


def read_blobs(paths: Iterable[str]) -> Iterator[bytes]:
    """The blobs `BlobFileWriter`s wrote, file by file, in order."""
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            data = handle.read()
        at = 0
        while at < len(data):
            size = int.from_bytes(data[at:at + _FRAME], "little")
            blob = data[at + _FRAME:at + _FRAME + size]
            if len(blob) != size:
                raise IOError(f"blob file {path} ends inside a blob ({len(blob)} of {size} bytes at {at})")
            yield blob
            at += _FRAME + size
