"""Train the plain-text line classifier and export it as a small JSON of trees.

    pip install -e '.[train]'      # scikit-learn, for training only (HistGradientBoosting)
    python -m bench.train_cleaner --data /work/shared/data/wcxb-dev /work/shared/data/aeb-dev \
        --out transforms/models/line_model.json

Each dev page is rendered with `render_visible_text`, split into lines exactly as `clean_text`
does, and every line gets a label from the ground-truth articleBody:
- a line of >= 4 tokens is content when at least LABEL_MIN_SHINGLE_SHARE of its word
  4-shingles occur in the truth;
- a shorter line (sub-heading, "Politics", "Share") is content only when it equals a whole
  truth paragraph token for token: a word that merely occurs somewhere in the article is not
  evidence that a menu entry belongs to it.
Lines are weighted by their length (capped), because the benchmark counts shingles and a long
paragraph lost costs more than a one-word menu entry.

Two stages of gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier): stage 1
on each line's own features, stage 2 adds stage-1 verdicts on its neighbours
(`transforms.cleanfeatures.context_features`). Inference needs no scikit-learn:
`transforms.textclean` walks the exported trees in pure Python.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

LABEL_MIN_SHINGLE_SHARE = 0.5
# Weight = min(tokens, cap) + 1: a 300-token paragraph should not drown all the short lines.
WEIGHT_TOKEN_CAP = 60
SEED = 0
HGB_PARAMS = dict(max_iter=300, learning_rate=0.08, max_leaf_nodes=31, min_samples_leaf=40,
                  l2_regularization=1.0, random_state=SEED)
# Stage 2 learns from stage-1 verdicts on neighbours; those must be out-of-fold on the training
# pages, or stage 2 would learn to trust over-confident in-sample verdicts.
STAGE1_INNER_FOLDS = 4
# Truth bodies added as all-content pages (idempotence); at full weight they cost ~0.003 F1 on
# raw pages by making the model lenient, so they count for less.
CLEAN_BODY_WEIGHT = 0.25


def line_labels(lines: list[str], truth: str) -> list[int]:
    from transforms.cleanfeatures import words

    truth_tokens = words(truth)
    truth_shingles = {tuple(truth_tokens[i:i + 4]) for i in range(len(truth_tokens) - 3)}
    truth_paragraphs = {tuple(words(p)) for p in truth.splitlines() if p.strip()}
    labels = []
    for line in lines:
        tokens = words(line)
        if len(tokens) >= 4:
            grams = [tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3)]
            share = sum(g in truth_shingles for g in grams) / len(grams)
            labels.append(int(share >= LABEL_MIN_SHINGLE_SHARE))
        else:
            labels.append(int(bool(tokens) and tuple(tokens) in truth_paragraphs))
    return labels


def page_rows(html: str, truth: str):
    """(line infos, features, labels, weights) for one page's rendered lines."""
    from transforms.cleanfeatures import analyse_lines, line_features
    from transforms.render import render_visible_text
    from transforms.textclean import split_lines

    lines = split_lines(render_visible_text(html))
    infos, _ = analyse_lines(lines)
    features = line_features(infos)
    labels = line_labels(lines, truth)
    weights = [min(info.units, WEIGHT_TOKEN_CAP) + 1 for info in infos]
    return infos, features, labels, weights


def clean_body_rows(body: str):
    """(line infos, features, labels, weights) for a truth body: every line is content."""
    from transforms.cleanfeatures import analyse_lines, line_features
    from transforms.textclean import split_lines

    lines = split_lines(body)
    infos, _ = analyse_lines(lines)
    return (infos, line_features(infos), [1] * len(lines),
            [CLEAN_BODY_WEIGHT * (min(info.units, WEIGHT_TOKEN_CAP) + 1) for info in infos])


def export_trees(model) -> dict:
    """A fitted HistGradientBoostingClassifier as plain lists (leaf values include shrinkage)."""
    import numpy as np

    trees = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        trees.append({
            "feature": [int(f) for f in nodes["feature_idx"]],
            "threshold": [float(f"{t:.7g}") for t in nodes["num_threshold"]],
            "left": [-1 if leaf else int(left) for left, leaf in zip(nodes["left"], nodes["is_leaf"])],
            "right": [int(r) for r in nodes["right"]],
            "value": [round(float(v), 7) for v in nodes["value"]],
        })
    return {"init": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}


def _fit(X, y, w):
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(**HGB_PARAMS)
    model.fit(np.asarray(X, dtype=np.float64), np.asarray(y), sample_weight=np.asarray(w, float))
    return model


def train_model(pages) -> dict:
    """Train on [(key, html, truth record)] and return the two-stage model as a dict."""
    import hashlib

    from transforms.cleanfeatures import CONTEXT_FEATURE_NAMES, FEATURE_NAMES, context_features
    per_page = [page_rows(html, record.get("articleBody", "")) for _, html, record in pages]
    # Each truth body is also a page whose every line is content: a cleaned body must survive
    # cleaning again (idempotence), and this teaches what an already-clean page looks like.
    per_page += [clean_body_rows(record.get("articleBody", "")) for _, _, record in pages]
    keys = [key for key, _, _ in pages] + [key + "#clean" for key, _, _ in pages]
    folds = [int(hashlib.sha256(key.split("#")[0].encode()).hexdigest(), 16) % STAGE1_INNER_FOLDS
             for key in keys]

    def stack(indices, part):
        return [value for i in indices for value in per_page[i][part]]

    import numpy as np

    everything = range(len(per_page))
    stage1 = export_trees(_fit(stack(everything, 1), stack(everything, 2), stack(everything, 3)))
    # Out-of-fold stage-1 probabilities for the stage-2 training rows.
    oof: list[list[float] | None] = [None] * len(per_page)
    for fold in range(STAGE1_INNER_FOLDS):
        train_idx = [i for i in everything if folds[i] != fold]
        inner = _fit(stack(train_idx, 1), stack(train_idx, 2), stack(train_idx, 3))
        for i in everything:
            if folds[i] == fold and per_page[i][1]:
                oof[i] = inner.predict_proba(np.asarray(per_page[i][1], float))[:, 1].tolist()
            elif folds[i] == fold:
                oof[i] = []
    X2 = []
    for i in everything:
        infos, features = per_page[i][0], per_page[i][1]
        X2.extend(row + extra for row, extra in zip(features, context_features(infos, oof[i])))
    stage2 = export_trees(_fit(X2, stack(everything, 2), stack(everything, 3)))
    return {"format": "two_stage_gbt/1", "feature_names": list(FEATURE_NAMES),
            "context_feature_names": list(CONTEXT_FEATURE_NAMES),
            "stage1": stage1, "stage2": stage2}


def main(argv: list[str] | None = None) -> int:
    from bench.extraction import load_pages

    parser = argparse.ArgumentParser(description="Train the text-mode line classifier.")
    parser.add_argument("--data", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("transforms/models/line_model.json"))
    args = parser.parse_args(argv)
    pages = [page for data_dir in args.data for page in load_pages(data_dir)]
    model = train_model(pages)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB, {len(pages)} pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
