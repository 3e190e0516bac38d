"""Throughput, memory and scaling of the whole pipeline, measured against the library floor.

    python -m bench.throughput                          # 20,000 documents, 1 and 2 workers
    python -m bench.throughput --sizes 5000,20000       # time per document as the corpus grows
    python -m bench.throughput --sizes 5000,20000,100000 --large   # 100k only behind --large
    python -m bench.throughput --sizes 5000,100000 --workers 1 --large --no-floor   # growth only

For each size a corpus is generated (deterministic) from the pages of ../shared/data/aeb-dev
(HTML, half of them gzipped), their rendered visible text (plain-text pages with the site's
chrome) and seeds/: every document gets its own words (`Rewording`) so no two documents are
alike, chrome lines vary, and about 10% are near-duplicates of another document (a trimmed
copy with a new headline and chrome).

Then, side by side on the same files:
- the **library floor**: one plain Python process doing only the unavoidable library calls per
  file: read and decode (gzip, UTF-8), `trafilatura.extract` for HTML, one `langdetect` call;
- the **pipeline**, `python -m pipeline` exactly as a user runs it, with one worker
  (DirectRunner in memory) and two (multi_processing), each timed from process start to exit.
Printed: documents/s, MB/s, peak RSS of the whole process tree (sampled from /proc), the ratio
pipeline time / floor time, and where each run's time went per document: the floor's loop split
into read + decode, extract and langdetect; each pipeline run's worker time per stage (read,
clean, language, staging, dedup, write: Beam's execution-time metrics of that run, which the CLI
prints, see pipeline.timings) against its process wall time. The difference is start-up, the
runner's own work outside any step (the in-memory runner groups shuffles there) and the time
Beam's sampler charged to no step.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
AEB = REPO.parent / "shared" / "data" / "aeb-dev"
NEAR_DUPLICATE_SHARE = 0.10
_WORD = re.compile(r"\w{4,}")
_TEXT_NODE = re.compile(r">([^<]{20,})<")
CHROME = ["Share on Facebook", "Share on X", "Related Articles", "Subscribe to our newsletter",
          "Advertisement", "Back to top", "Comments (3)", "Most read", "Accept all cookies",
          "Sign in", "Follow us", "Privacy policy", "Terms of use", "© 2026 All rights reserved"]


# ----------------------------------------------------------------------------- corpus
def base_pages() -> list[tuple[str, str]]:
    """(format, content) of every base page: AEB HTML, its visible text, and the seeds."""
    from transforms.render import render_visible_text

    pages: list[tuple[str, str]] = []
    for path in sorted((AEB / "html").glob("*.html.gz")):
        html = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        pages.append(("html", html))
        pages.append(("text", render_visible_text(html)))
    if not pages:
        # The seeds alone would still make a corpus, of five small pages and no HTML: figures
        # from it look plausible and mean nothing (0.1-0.3 MB/s against 2.2-3.4 here).
        raise SystemExit(f"no base pages: {AEB / 'html'} has no *.html.gz (../shared beside the repo?)")
    for path in sorted((REPO / "seeds").glob("*.txt")):
        pages.append(("text", path.read_text(encoding="utf-8")))
    return pages


class Rewording:
    """One document's own vocabulary: each distinct word of 4+ letters of its base page becomes
    a word drawn from all base pages by frequency, the same one wherever it recurs. The page
    keeps its markup, layout and length, and its text is as unlike another document's as two
    real articles are. (Shuffling each page's words among themselves kept its bag of words: 45%
    of the documents then came out as near duplicates of another copy of their base page.)"""

    def __init__(self, vocabulary: Sequence[str], rng: random.Random) -> None:
        self._vocabulary = vocabulary
        self._rng = rng
        self._mapping: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        return _WORD.sub(self._replace, text)

    def _replace(self, match: re.Match) -> str:
        word = match.group(0)
        if word not in self._mapping:
            self._mapping[word] = self._rng.choice(self._vocabulary)
        return self._mapping[word]


def vocabulary_of(bases: Sequence[tuple[str, str]]) -> list[str]:
    """Every word of 4+ letters of the base pages' text, as often as it occurs."""
    return [w for fmt, page in bases if fmt == "text" for w in _WORD.findall(page)]


def make_document(number: int, bases: Sequence[tuple[str, str]], previous: str | None,
                  vocabulary: Sequence[str]) -> tuple[str, str]:
    """(file name, content) of document `number`; about 10% copy `previous` with edits."""
    rng = random.Random(number)
    if previous is not None and rng.random() < NEAR_DUPLICATE_SHARE:
        fmt = "text"
        paragraphs = [p for p in previous.split("\n\n") if p.strip()]
        kept = paragraphs[:max(3, int(len(paragraphs) * 0.8))]
        content = "\n\n".join([rng.choice(CHROME), "An outlet's own headline", *kept, rng.choice(CHROME)])
    else:
        fmt, page = bases[number % len(bases)]
        reword = Rewording(vocabulary, rng)
        if fmt == "html":
            content = _TEXT_NODE.sub(lambda m: ">" + reword(m.group(1)) + "<", page)
        else:
            chrome = rng.sample(CHROME, 3)
            content = "\n\n".join([chrome[0], reword(page), chrome[1], chrome[2]])
    suffix = ".html" if fmt == "html" else ".txt"
    if number % 2:
        suffix += ".gz"
    return f"doc{number:07d}{suffix}", content


def write_corpus(folder: Path, n_docs: int) -> int:
    """Writes n_docs files into folder; returns total bytes on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = base_pages()
    vocabulary = vocabulary_of(bases)
    previous: str | None = None
    total = 0
    for number in range(n_docs):
        name, content = make_document(number, bases, previous, vocabulary)
        data = content.encode("utf-8")
        if name.endswith(".gz"):
            data = gzip.compress(data, compresslevel=6, mtime=0)
        (folder / name).write_bytes(data)
        total += len(data)
        previous = content if name.split(".")[1] == "txt" else None
    return total


# ----------------------------------------------------------------------------- the floor
def floor_loop(folder: Path) -> dict:
    """The unavoidable library work per file, in one plain loop (no Beam, no cleaning), with
    its seconds split into read + decode, `trafilatura.extract` and langdetect."""
    import trafilatura
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    started = time.perf_counter()
    docs = 0
    spent = {"read": 0.0, "extract": 0.0, "langdetect": 0.0}
    for path in sorted(folder.iterdir()):
        step = time.perf_counter()
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode("utf-8", errors="replace")
        read_done = time.perf_counter()
        if ".html" in path.name:
            text = trafilatura.extract(text) or ""
        extract_done = time.perf_counter()
        try:
            detect(text)
        except LangDetectException:
            pass
        spent["read"] += read_done - step
        spent["extract"] += extract_done - read_done
        spent["langdetect"] += time.perf_counter() - extract_done
        docs += 1
    return {"seconds": time.perf_counter() - started, "docs": docs, "parts": spent}


# ----------------------------------------------------------------------------- measuring
class TreeRssSampler:
    """Peak resident memory of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self._pid = pid
        self._interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeRssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._tree_pages() * page)
            self._stop.wait(self._interval)

    def _tree_pages(self) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(entry)
            children.setdefault(int(fields[1]), []).append(pid)
            rss[pid] = int(fields[21])
        total, stack = 0, [self._pid]
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack.extend(children.get(pid, ()))
        return total


def timed_process(cmd: Sequence[str]) -> tuple[float, int, str]:
    """(wall seconds, peak tree RSS bytes, stdout) of a command run to completion."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        with TreeRssSampler(proc.pid) as sampler:
            stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return elapsed, sampler.peak_bytes, stdout


def run_size(n_docs: int, workers: Sequence[int], keep: Path | None, with_floor: bool = True) -> list[dict]:
    # here, not at the top: the floor loop runs this module too and must not import Beam
    from pipeline.timings import parse_stage_seconds

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        root = keep or Path(tmp)
        corpus = root / f"corpus-{n_docs}"
        megabytes = write_corpus(corpus, n_docs) / 1e6
        floor_s, inner = None, None
        if with_floor:
            floor_s, floor_rss, out = timed_process([sys.executable, "-m", "bench.throughput", "--floor", str(corpus)])
            inner = json.loads(out.strip().splitlines()[-1])
            rows.append({"docs": n_docs, "what": "library floor", "seconds": floor_s, "rss": floor_rss,
                         "mb": megabytes, "ratio": 1.0})
            print("library floor, ms/doc (in its loop): "
                  + ", ".join(f"{part} {1000 * value / n_docs:.1f}" for part, value in inner["parts"].items())
                  + f"; process wall {1000 * floor_s / n_docs:.1f}")
        for count in workers:
            mode = ["--direct_running_mode=in_memory"] if count == 1 else [
                "--direct_running_mode=multi_processing", f"--direct_num_workers={count}"]
            cmd = [sys.executable, "-m", "pipeline", "--input", str(corpus / "*"),
                   "--output", str(root / f"out-{n_docs}-{count}"), *mode]
            seconds, rss, out = timed_process(cmd)
            rows.append({"docs": n_docs, "what": f"pipeline, {count} worker{'s' * (count > 1)}",
                         "seconds": seconds, "rss": rss, "mb": megabytes,
                         "ratio": seconds / floor_s if floor_s else None})
            print_stage_times(rows[-1]["what"], parse_stage_seconds(out), seconds, n_docs)
    return rows


def print_stage_times(what: str, stage_seconds: dict[str, float], wall_seconds: float, n_docs: int) -> None:
    """The run's own time per stage (Beam's execution-time metrics, pipeline.timings), per document."""
    if not stage_seconds:
        print(f"{what}: the run reported no time per stage")
        return
    in_steps = sum(stage_seconds.values())
    print(f"{what}, ms/doc (worker time per stage, from Beam's metrics): "
          + ", ".join(f"{stage} {1000 * value / n_docs:.1f}" for stage, value in stage_seconds.items())
          + f"; in all steps {1000 * in_steps / n_docs:.1f}; process wall {1000 * wall_seconds / n_docs:.1f}")
    sys.stdout.flush()


def print_rows(rows: Sequence[dict]) -> None:
    print(f"{'docs':>7} {'what':<22} {'seconds':>8} {'docs/s':>8} {'MB/s':>6} {'ms/doc':>7} "
          f"{'peak RSS':>9} {'x floor':>8}")
    for row in rows:
        print(f"{row['docs']:>7} {row['what']:<22} {row['seconds']:8.1f} {row['docs'] / row['seconds']:8.1f} "
              f"{row['mb'] / row['seconds']:6.2f} {1000 * row['seconds'] / row['docs']:7.2f} "
              f"{row['rss'] / 2**20:7.0f}MB " + (f"{row['ratio']:7.2f}x" if row["ratio"] else "    n/a"))
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000", help="comma-separated corpus sizes (default %(default)s)")
    parser.add_argument("--workers", default="1,2", help="worker counts to run (default %(default)s)")
    parser.add_argument("--large", action="store_true", help="allow sizes above 50,000 (slow)")
    parser.add_argument("--keep", type=Path, help="keep corpora and outputs in this folder")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the library floor (its loop keeps nothing between documents, so its "
                             "cost per document does not depend on N; saves 13-16 ms per "
                             "document on long runs)")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)  # internal: run the floor loop
    args = parser.parse_args(argv)
    if args.floor:
        print(json.dumps(floor_loop(args.floor)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(size > 50_000 for size in sizes) and not args.large:
        parser.error("sizes above 50,000 take long: add --large")
    workers = [int(w) for w in args.workers.split(",")]
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    all_rows: list[dict] = []
    for size in sizes:
        rows = run_size(size, workers, args.keep, with_floor=not args.no_floor)
        all_rows.extend(rows)
        print_rows(rows)
    if len(sizes) > 1:
        print("\ncost per document relative to the smallest size:")
        for what in sorted({r["what"] for r in all_rows}):
            mine = [r for r in all_rows if r["what"] == what]
            first = mine[0]["seconds"] / mine[0]["docs"]
            print(f"  {what:<22} " + ", ".join(f"{r['docs']}: {r['seconds'] / r['docs'] / first:.2f}x" for r in mine))
    by_size = {}
    for row in all_rows:
        by_size.setdefault(row["docs"], {})[row["what"]] = row["seconds"]
    for size, times in by_size.items():
        if "pipeline, 1 worker" in times and "pipeline, 2 workers" in times:
            print(f"two workers vs one at {size}: {times['pipeline, 1 worker'] / times['pipeline, 2 workers']:.2f}x throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
