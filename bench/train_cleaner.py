"""Train the plain-text line classifier and export it as a small JSON of trees.

    pip install -e '.[train]'      # scikit-learn, for training only
    python -m bench.train_cleaner --data /work/shared/data/wcxb-dev /work/shared/data/aeb-dev \
        --out transforms/models/line_model.json

Each dev page is rendered with `render_visible_text`, split into lines exactly as `clean_text`
does, and every line gets a label from the ground-truth articleBody:
- a line of >= 4 tokens is content when at least LABEL_MIN_SHINGLE_SHARE of its word
  4-shingles occur in the truth;
- a shorter line (sub-heading, "Politics", "Share") is content only when it equals a whole
  truth paragraph token for token: a word that merely occurs somewhere in the article is not
  evidence that a menu entry belongs to it.
Lines are weighted by their token count (capped), because the benchmark counts shingles, and a
long paragraph lost costs more than a one-word menu entry.

Inference needs no scikit-learn: `transforms.textclean` walks the exported trees in pure Python.
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
GBM_PARAMS = dict(n_estimators=200, max_depth=4, learning_rate=0.1, subsample=0.7,
                  min_samples_leaf=20, random_state=SEED)


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
    """(features, labels, weights) for one page's rendered lines."""
    from transforms.cleanfeatures import analyse_lines, line_features
    from transforms.render import render_visible_text
    from transforms.textclean import split_lines

    lines = split_lines(render_visible_text(html))
    infos, _ = analyse_lines(lines)
    features = line_features(infos)
    labels = line_labels(lines, truth)
    weights = [min(len(info.tokens), WEIGHT_TOKEN_CAP) + 1 for info in infos]
    return features, labels, weights


def export_model(model, feature_names) -> dict:
    trees = []
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        trees.append({
            "feature": tree.feature.tolist(),
            "threshold": [round(float(t), 6) for t in tree.threshold],
            "left": tree.children_left.tolist(),
            "right": tree.children_right.tolist(),
            "value": [round(float(v[0][0]), 6) for v in tree.value],
        })
    import numpy as np

    init = float(model._raw_predict_init(np.zeros((1, len(feature_names))))[0, 0])
    return {"kind": "gbm_binary_logistic", "feature_names": list(feature_names),
            "init": init, "learning_rate": model.learning_rate, "trees": trees}


def train_model(pages) -> dict:
    """Train on [(key, html, truth record)] and return the exported model dict."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    from transforms.cleanfeatures import FEATURE_NAMES

    X, y, w = [], [], []
    for _, html, record in pages:
        features, labels, weights = page_rows(html, record.get("articleBody", ""))
        X.extend(features)
        y.extend(labels)
        w.extend(weights)
    model = GradientBoostingClassifier(**GBM_PARAMS)
    model.fit(np.asarray(X, dtype=np.float64), np.asarray(y), sample_weight=np.asarray(w, float))
    return export_model(model, FEATURE_NAMES)


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
