"""Read stage: raw bytes of one matched file -> decoded page text, or a reject.

Pure functions first (limits, decompression, encoding detection, format sniffing), then the
thin DoFn that applies them to each matched file.
"""
from __future__ import annotations

import codecs
import dataclasses
import glob
import logging
import os
import re
import zlib
from itertools import islice
from typing import Any, Iterator, Sequence

import apache_beam as beam
import ftfy
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.progress import ProgressLog
from transforms.records import FORMAT_HTML, FORMAT_TEXT, make_reject
from transforms.routing import route

LOG = logging.getLogger(__name__)

PAGES = "pages"
REJECTS = "rejects"


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    """Limits enforced while reading, so no single input can exhaust a worker's memory."""

    # Cleaning needs about 40 bytes of memory per character of page: measured peak RSS 580 MiB
    # for a 10.5 MB text page and 2.1 GB for a 50 MB one (both with the time guard off). 10 MiB
    # keeps one page well under 1 GB; the largest of 912 dev pages is 0.6 MB of HTML.
    max_raw_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 10 * 1024 * 1024  # also stops gzip bombs before they inflate
    max_line_chars: int = 1_000_000  # a longer "line" is a minified blob, not prose
    max_lines: int = 100_000  # a longer page is a dump, not an article


class RejectError(Exception):
    """An expected, per-document reason to reject an input."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class RawPage:
    source: str
    content: str
    format: str
    encoding: str


GZIP_MAGIC = b"\x1f\x8b"


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflate gzip data, stopping as soon as the output would pass `limit` bytes.

    Output is produced in steps capped by the bytes still allowed, so a bomb costs at most
    `limit` bytes of memory. Concatenated members are inflated in turn, as gzip(1) does.
    """
    out = bytearray()
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            buf = pending
            while not inflater.eof:
                chunk = inflater.decompress(buf, limit + 1 - len(out))
                out += chunk
                if len(out) > limit:
                    raise RejectError(
                        "too_large",
                        f"decompressed size exceeds the limit of {limit:,} bytes (a gzip bomb or a dump)")
                buf = inflater.unconsumed_tail
                if not chunk and not buf:
                    break
            if not inflater.eof:
                raise RejectError("read_error", "the gzip stream is truncated: it ends before its last block")
            pending = inflater.unused_data.lstrip(b"\x00")
            if pending[:2] != GZIP_MAGIC:
                break  # trailing bytes that are not another member are ignored, as gzip(1) warns and does
    except zlib.error as exc:
        raise RejectError("read_error", f"the gzip stream is corrupt ({exc})") from exc
    return bytes(out)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)
# Share of control characters above which decoded "text" is really binary data.
MAX_CONTROL_SHARE = 0.05
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd]")


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text of mostly ASCII letters has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / max(1, len(sample[0::2]))
    odd_nuls = sample[1::2].count(0) / max(1, len(sample[1::2]))
    if odd_nuls > 0.7 and even_nuls < 0.1:
        return "utf-16-le"
    if even_nuls > 0.7 and odd_nuls < 0.1:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return False
    return len(_CONTROL.findall(sample)) / len(sample) > MAX_CONTROL_SHARE


def _candidate_encodings(data: bytes) -> Iterator[str]:
    """A BOM's encoding, UTF-16 without one, UTF-8, then the charset a <meta> tag declares:
    searched for only when the others fail (~65 us a page, and most pages are UTF-8)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            yield name
            break
    utf16 = _utf16_without_bom(data)
    if utf16:
        yield utf16
    yield "utf-8"
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        try:
            yield codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            pass


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode page bytes: BOM, then strict UTF-8, then a declared charset, then detection.

    Returns (text, encoding name). Raises RejectError for empty, binary or undecodable input.
    """
    if not data.strip():
        raise RejectError("empty", "the file is empty or holds only white space")
    for encoding in _candidate_encodings(data):
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if _looks_binary(text):
            raise RejectError("binary", "the bytes are not text (too many control characters)")
        return text, encoding
    if data[:65536].count(0) > 0.01 * min(len(data), 65536):
        raise RejectError("binary", "the bytes are not text (NUL bytes outside any UTF-16 text)")
    text, encoding = _detect_legacy_encoding(data)
    if _looks_binary(text):
        raise RejectError("binary", "the bytes are not text (too many control characters)")
    return text, encoding


def _detect_legacy_encoding(data: bytes) -> tuple[str, str]:
    """Single-byte legacy pages: ask charset-normalizer, fall back to cp1252 and latin-1."""
    try:
        from charset_normalizer import from_bytes

        matches = from_bytes(data[:200_000])
        best = matches.best()
        if best is not None and best.encoding:
            # Short Western texts often score the same in several code pages (cp1250, cp1257,
            # cp1252...); on a tie, windows-1252 wins, as in the HTML standard's fallback: it is
            # by far the most common legacy encoding of the web ("pequeño", not "pequeńo").
            tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
            encoding = "cp1252" if "cp1252" in tied else best.encoding
            return data.decode(encoding, errors="replace"), encoding
    except Exception:  # detection is a heuristic; any failure falls back below
        LOG.debug("charset detection failed", exc_info=True)
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


_HTML_EXTENSIONS = (".html", ".htm", ".xhtml", ".shtml")
_TEXT_EXTENSIONS = (".txt", ".text")
_HTML_SNIFF = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<(?:div|p|article|meta)[\s>]", re.I)


def sniff_format(path: str, text: str) -> str:
    """'html' or 'text': the extension when it says, else what the first bytes look like."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(_HTML_EXTENSIONS):
        return FORMAT_HTML
    if name.endswith(_TEXT_EXTENSIONS):
        # A .txt that is really a saved page still starts with markup.
        return FORMAT_HTML if re.match(r"\s*<(?:!doctype\s+html|html)[\s>]", text[:1024], re.I) else FORMAT_TEXT
    return FORMAT_HTML if _HTML_SNIFF.search(text[:4096]) else FORMAT_TEXT


def check_shape(text: str, limits: ReadLimits) -> None:
    """Reject text whose line count or longest line is over the limits."""
    n_lines = text.count("\n") + 1
    if n_lines > limits.max_lines:
        raise RejectError("too_large", f"{n_lines:,} lines is over the limit of {limits.max_lines:,}")
    if len(text) <= limits.max_line_chars:
        return  # no line can be longer than the whole text: skips splitting every page into lines
    longest = max(map(len, text.split("\n")))
    if longest > limits.max_line_chars:
        raise RejectError(
            "too_large", f"a line of {longest:,} characters is over the limit of {limits.max_line_chars:,}")


MOJIBAKE_REPAIRED = "+mojibake-repaired"
MIN_MOJIBAKE_REPAIRS = 3
# What UTF-8 looks like once decoded as cp1252/latin-1: a lead byte (Â..ô) followed by a
# continuation byte (0x80-0xBF as latin-1 controls/symbols or their cp1252 characters).
_MOJIBAKE_LEADS = "".join(map(chr, range(0xC2, 0xF5)))
_MOJIBAKE_CONTINUATIONS = "".join(map(chr, range(0x80, 0xC0))) + (
    "\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d"
    "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178")
_MOJIBAKE_PAIR = re.compile(f"[{re.escape(_MOJIBAKE_LEADS)}][{re.escape(_MOJIBAKE_CONTINUATIONS)}]")


def _utf8_pair_pattern() -> re.Pattern[bytes]:
    """_MOJIBAKE_PAIR over the text's UTF-8 bytes. Every lead (U+00C2-U+00F4) is 0xC3 and one
    byte there, so the search skips to each 0xC3 (a memchr) instead of testing each character
    against a class: 0.30 -> ~0.08 ms a bench page, encoding included. A byte match is a
    character match (UTF-8 is self-synchronising), and pairs cannot overlap (no continuation
    is a lead), so both count the same pairs."""
    leads = {lead.encode("utf-8") for lead in _MOJIBAKE_LEADS}
    if {lead[:1] for lead in leads} != {b"\xc3"} or {len(lead) for lead in leads} != {2}:
        raise AssertionError("mojibake leads are not 0xC3 and one byte")  # a changed constant
    seconds = sorted(lead[1] for lead in leads)
    continuations = sorted((c.encode("utf-8") for c in _MOJIBAKE_CONTINUATIONS), key=lambda b: (len(b), b))
    return re.compile(b"\xc3[" + re.escape(bytes([seconds[0]])) + b"-" + re.escape(bytes([seconds[-1]])) + b"](?:"
                      + b"|".join(map(re.escape, continuations)) + b")")


_MOJIBAKE_PAIR_UTF8 = _utf8_pair_pattern()


def mojibake_pairs(text: str, at_most: int = MIN_MOJIBAKE_REPAIRS, utf8: bytes | None = None) -> int:
    """How many _MOJIBAKE_PAIR pairs the text holds, counting stops at `at_most`; `utf8`, when
    given, is the text's UTF-8 encoding (spares encoding it again: ~90 us a bench page)."""
    data = utf8 if utf8 is not None else text.encode("utf-8", "surrogatepass")
    return sum(1 for _ in islice(_MOJIBAKE_PAIR_UTF8.finditer(data), at_most))


def repair_mojibake(text: str, utf8: bytes | None = None) -> tuple[str, bool]:
    """Undo UTF-8 that was decoded as cp1252/latin-1 and saved again ("cafÃ©" -> "café").

    ftfy's `fix_encoding` only: it reverses encoding mix-ups when its badness heuristic is
    sure, and leaves quotes, widths and everything else as they are. `utf8`: as for
    `mojibake_pairs`."""
    if mojibake_pairs(text, utf8=utf8) < MIN_MOJIBAKE_REPAIRS:
        # ftfy costs ~40 ms on a 200 KB page; most pages have no mojibake
        return text, False
    fixed = ftfy.fix_encoding(text)
    # Each repaired sequence shrinks the text (2-4 characters become 1). Real mojibake breaks
    # every accented letter of a page; one or two look-alike pairs are more likely valid text
    # ("”É" would otherwise become "Ӄ"), so they are left alone.
    if len(text) - len(fixed) < MIN_MOJIBAKE_REPAIRS:
        return text, False
    return fixed, True


def page_from_bytes(source: str, data: bytes, limits: ReadLimits) -> RawPage:
    """The whole read stage for one file's raw bytes (pure: no I/O)."""
    if len(data) > limits.max_raw_bytes:
        raise RejectError("too_large", f"{len(data):,} bytes is over the raw size limit of {limits.max_raw_bytes:,}")
    if data[:2] == GZIP_MAGIC:
        data = gunzip_bounded(data, limits.max_decompressed_bytes)
    elif source.lower().endswith(".gz"):
        raise RejectError("read_error", "the file is named .gz but is not gzip data")
    text, encoding = decode_bytes(data)
    # "utf-8" is only named after strict decoding (charset-normalizer names codecs "utf_8"),
    # which gives back these bytes when encoded: they serve the mojibake count
    utf8 = data if encoding == "utf-8" else None
    # each replace scans the whole page; almost no page has either character
    if "\r" in text:
        text, utf8 = text.replace("\r\n", "\n").replace("\r", "\n"), None
    if "\x00" in text:
        text, utf8 = text.replace("\x00", ""), None
    text, repaired = repair_mojibake(text, utf8)
    if repaired:
        encoding += MOJIBAKE_REPAIRED
    if not text.strip():
        raise RejectError("empty", "the file holds no visible characters once decoded")
    check_shape(text, limits)
    return RawPage(source=source, content=text, format=sniff_format(source, text), encoding=encoding)


def matched_directories(globs: Sequence[str]) -> list[str]:
    """Local directories the globs match. Beam's matcher lists files only, so a directory named
    like an input ("2024.txt/") would vanish without a trace; listed here, it becomes a
    `not_a_file` reject. Object stores have no directories: remote globs give nothing here."""
    found: set[str] = set()
    for pattern in globs:
        if "://" in pattern:
            continue
        found.update(path for path in glob.glob(pattern, recursive=True) if os.path.isdir(path))
    return sorted(os.path.abspath(path) for path in found)


def bounded_chunks(path: str, limit: int) -> Iterator[bytes]:
    """The file's bytes in chunks of at most 1 MiB, limit+1 bytes at most in all, so an
    oversized file is detected without reading it all."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        remaining = limit + 1
        while remaining > 0:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                break
            yield chunk
            remaining -= len(chunk)


def read_bounded(path: str, limit: int) -> bytes:
    """Read at most limit+1 bytes, so an oversized file is detected without loading it all."""
    return b"".join(bounded_chunks(path, limit))


class ReadRawFiles(beam.DoFn):
    """FileMetadata -> (PAGES, RawPage dict) or (REJECTS, reject row); see transforms.routing."""

    def __init__(self, limits: ReadLimits, progress_seconds: float = 0.0, expected_inputs: int | None = None) -> None:
        self._limits = limits
        self._progress_seconds = progress_seconds
        self._expected_inputs = expected_inputs

    def setup(self) -> None:
        self._failures = Metrics.counter("read", "internal_errors")
        # Read, clean and language detection are fused: what this step yields goes through
        # the other two before the step resumes, so an input is counted once all three are done.
        self._progress = ProgressLog("inputs read, cleaned and tagged", self._progress_seconds,
                                     self._expected_inputs)

    def process(self, metadata: Any) -> Iterator[Any]:
        yield from self._read(metadata)
        self._progress.tick()  # after the fused steps downstream took the page

    def _read(self, metadata: Any) -> Iterator[Any]:
        path = metadata.path
        try:
            data = read_bounded(path, self._limits.max_raw_bytes)
        except IsADirectoryError:
            yield route(REJECTS, make_reject(path, "not_a_file", "the path is a directory, not a file"))
            return
        except (OSError, IOError) as exc:
            yield route(REJECTS, make_reject(path, "read_error", f"could not read the file: {exc}"))
            return
        try:
            page = page_from_bytes(path, data, self._limits)
        except RejectError as exc:
            yield route(REJECTS, make_reject(path, exc.reason, exc.detail))
            return
        except Exception as exc:  # a bug must cost one file, not the run: kept as a reject
            LOG.exception("reading %s failed", path)
            self._failures.inc()
            yield route(REJECTS, make_reject(path, "internal_error", f"reading raised {type(exc).__name__}: {exc}"))
            return
        yield route(PAGES, dataclasses.asdict(page))

