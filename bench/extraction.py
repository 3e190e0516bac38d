"""Extraction benchmark: our cleaners against plain trafilatura on a labelled page set.

    python -m bench.extraction --data /work/shared/data/aeb-dev --mode html
    python -m bench.extraction --data /work/shared/data/wcxb-dev --mode text --cv 5
    python -m bench.extraction --data /work/shared/data/aeb-dev --mode text \
        --train-on /work/shared/data/wcxb-dev

DIR layout: `html/<key>.html.gz` and `ground-truth.json` = {key: {"articleBody", "url", ...}}.

Ours is computed with the very functions the pipeline's clean step calls: `clean_html` in html
mode; `render_visible_text` then `clean_text` in text mode. Plain `trafilatura.extract` at
default settings always runs on the HTML, side by side, as the reference people use today.

Metric (word 4-shingle overlap, per page, then averaged):
- tokens are `re.findall(r"\\w+", text)`; shingles are consecutive 4-token tuples, counted
  with multiplicity. A text with 1-3 tokens yields one shingle (the whole token tuple), an
  empty text none, so very short truths/predictions still count instead of vanishing.
- tp = sum of min counts, fp = pred total - tp, fn = truth total - tp; per page P = tp/(tp+fp)
  over pages with tp+fp > 0, R = tp/(tp+fn) over pages with tp+fn > 0 (the normalisation of
  tp/fp/fn by their sum cancels in these ratios); F1 = harmonic mean of mean P and mean R.

Metadata match (WCXB, ours only; a page counts only when the truth has the field):
- title: equal after lower-casing and keeping only \\w tokens, or one token sequence contains
  the other while covering at least 80% of it (sites append " - Site Name").
- author: token sets (lower-cased \\w tokens) equal, or every truth token found in ours
  (several authors listed in a different order/joiner still match).
- publish_date: the same calendar day (truth's first 10 characters parsed as YYYY-MM-DD).

Cross-validation (text mode; the model is the only learned part): `--cv K` splits DIR's pages
into K folds by a hash of the key, trains a line model on K-1 folds and scores the held-out
fold; `--train-on OTHER` trains on every page of OTHER and scores DIR; both together train each
fold's model on OTHER plus DIR's other folds. Without either, the shipped model is used (only
honest on pages it was not trained on; the shipped one was trained on all dev pages).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

SHINGLE_SIZE = 4
_WORD = re.compile(r"\w+")


# ----------------------------------------------------------------------------- metric
def shingles(text: str) -> Counter:
    tokens = _WORD.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < SHINGLE_SIZE:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i:i + SHINGLE_SIZE]) for i in range(len(tokens) - SHINGLE_SIZE + 1))


def page_counts(prediction: str, truth: str) -> tuple[int, int, int]:
    """(tp, fp, fn) in shingles for one page."""
    pred, gold = shingles(prediction), shingles(truth)
    tp = sum(min(count, gold[s]) for s, count in pred.items() if s in gold)
    return tp, sum(pred.values()) - tp, sum(gold.values()) - tp


def aggregate(counts: Iterable[tuple[int, int, int]]) -> dict[str, float]:
    """Mean per-page precision and recall, and their harmonic mean."""
    precisions, recalls = [], []
    for tp, fp, fn in counts:
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(tp / (tp + fn))
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"f1": f1, "precision": p, "recall": r}


# ----------------------------------------------------------------------------- metadata
def _norm_tokens(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def title_matches(ours: str | None, truth: str | None) -> bool:
    a, b = _norm_tokens(ours), _norm_tokens(truth)
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    joined_long, joined_short = " " + " ".join(longer) + " ", " " + " ".join(shorter) + " "
    return joined_short in joined_long and len(shorter) >= 0.8 * len(longer)


def author_matches(ours: str | None, truth: str | None) -> bool:
    a, b = set(_norm_tokens(ours)), set(_norm_tokens(truth))
    return bool(a) and bool(b) and (a == b or b <= a)


def date_matches(ours, truth: str | None) -> bool:
    if ours is None or not truth:
        return False
    return str(ours)[:10] == str(truth)[:10]


# ----------------------------------------------------------------------------- data
def decode_html(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from trafilatura.utils import decode_file
        return decode_file(raw)


def load_pages(data_dir: Path, limit: int | None = None) -> list[tuple[str, str, dict]]:
    """[(key, html, truth record)], sorted by key for a deterministic order."""
    truth = json.loads((data_dir / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        path = data_dir / "html" / f"{key}.html.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rb") as handle:
            pages.append((key, decode_html(handle.read()), truth[key]))
        if limit and len(pages) >= limit:
            break
    return pages


def fold_of(key: str, folds: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % folds


# ----------------------------------------------------------------------------- runs
def run_trafilatura(pages) -> tuple[dict[str, str], float]:
    import trafilatura

    # trafilatura as people run it: our HTML cleaner, once imported, prefilters its XPaths
    from transforms.xpathprefilter import original_xpaths

    with original_xpaths():
        outputs, start = {}, time.perf_counter()
        for key, html, record in pages:
            try:
                outputs[key] = trafilatura.extract(html, url=record.get("url")) or ""
            except Exception:
                outputs[key] = ""
        return outputs, time.perf_counter() - start


def run_ours(pages, mode: str, model_for: Callable[[str], dict | None] | None = None):
    """Our outputs {key: CleanResult} and the seconds spent (render included in text mode)."""
    from transforms.htmlclean import clean_html
    from transforms.render import render_visible_text
    from transforms.textclean import clean_text

    results, start = {}, time.perf_counter()
    for key, html, record in pages:
        if mode == "html":
            results[key] = clean_html(html, url=record.get("url"))
        else:
            model = model_for(key) if model_for else None
            results[key] = clean_text(render_visible_text(html), model=model)
    return results, time.perf_counter() - start


def cross_validated_models(pages, folds: int, train_pages=None) -> Callable[[str], dict]:
    """A key -> model function whose model never saw that key's page.

    folds=0: one model trained on `train_pages` only. folds=K: K models, each trained on the
    other K-1 folds of `pages` (plus every page of `train_pages` when given)."""
    from bench.train_cleaner import train_model

    extra = list(train_pages or [])
    if not folds:
        model = train_model(extra)
        return lambda key: model
    models = []
    for fold in range(folds):
        print(f"  training fold {fold + 1}/{folds} ...", file=sys.stderr, flush=True)
        models.append(train_model(extra + [p for p in pages if fold_of(p[0], folds) != fold]))
    return lambda key: models[fold_of(key, folds)]


def score(outputs: dict[str, str], pages) -> dict[str, float]:
    return aggregate(page_counts(outputs.get(key, ""), record.get("articleBody", ""))
                     for key, _, record in pages)


def metadata_rates(results, pages) -> dict[str, tuple[int, int]]:
    rates = {}
    for field, truth_key, matches in (("title", "title", title_matches),
                                      ("author", "author", author_matches),
                                      ("published", "publish_date", date_matches)):
        hits = total = 0
        for key, _, record in pages:
            if not record.get(truth_key):
                continue
            total += 1
            hits += matches(getattr(results[key], field), record[truth_key])
        rates[field] = (hits, total)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--mode", choices=("html", "text"), default="html")
    parser.add_argument("--predictions", type=Path)
    parser.add_argument("--limit", type=int, help="only the first N pages (by key)")
    parser.add_argument("--cv", type=int, default=0, help="text mode: K-fold cross-validated model")
    parser.add_argument("--train-on", type=Path, help="text mode: train the model on this DIR")
    parser.add_argument("--no-reference", action="store_true", help="skip plain trafilatura")
    args = parser.parse_args(argv)

    pages = load_pages(args.data, args.limit)
    model_for = None
    if args.mode == "text" and (args.cv or args.train_on):
        train_pages = load_pages(args.train_on) if args.train_on else None
        model_for = cross_validated_models(pages, args.cv, train_pages)
    results, ours_seconds = run_ours(pages, args.mode, model_for)
    ours = score({k: r.text for k, r in results.items()}, pages)
    rows = [("ours (" + args.mode + ")", ours, len(pages) / max(ours_seconds, 1e-9))]
    if not args.no_reference:
        reference_outputs, reference_seconds = run_trafilatura(pages)
        rows.append(("trafilatura default (html)", score(reference_outputs, pages),
                     len(pages) / max(reference_seconds, 1e-9)))

    model_note = " + ".join(part for part in (
        f"{args.cv}-fold CV on this set" if args.cv else "",
        f"trained on all of {args.train_on}" if args.train_on else "") if part) or "shipped model"
    print(f"{args.data} | {len(pages)} pages | mode {args.mode}"
          + (f" | model: {model_note}" if args.mode == "text" else ""))
    print(f"{'system':30} {'F1':>7} {'P':>7} {'R':>7} {'pages/s':>9}")
    for name, metrics, speed in rows:
        print(f"{name:30} {metrics['f1']:7.4f} {metrics['precision']:7.4f} "
              f"{metrics['recall']:7.4f} {speed:9.1f}")
    if any(record.get("title") is not None for _, _, record in pages):
        for field, (hits, total) in metadata_rates(results, pages).items():
            if total:
                print(f"ours {field:9} match {hits}/{total} = {hits / total:.3f}")
    if args.predictions:
        args.predictions.write_text(json.dumps(
            {key: {"articleBody": r.text} for key, r in results.items()},
            ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
