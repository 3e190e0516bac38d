"""The near-duplicate benchmark's scoring, its synthetic edits, and the WMT dev figures it guards."""
from __future__ import annotations

import random
import tempfile

import pytest

from bench.dedup import (EDIT_KINDS, adjusted_rand_index, load_jsonl, make_variant, pairwise_scores,
                         pipeline_clusters)
from tests.conftest import shared_data

TRUTH = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}


def test_perfect_prediction_scores_one_under_any_labels():
    relabelled = {doc: f"x{label}" for doc, label in TRUTH.items()}
    assert pairwise_scores(TRUTH, relabelled) == (1.0, 1.0, 1.0)
    assert adjusted_rand_index(TRUTH, relabelled) == pytest.approx(1.0)


def test_merging_two_clusters_costs_precision_not_recall():
    merged = {**TRUTH, "c": 1, "d": 1}
    precision, recall, _ = pairwise_scores(TRUTH, merged)
    assert recall == 1.0
    assert precision == pytest.approx(2 / 6)  # true pairs ab, cd among the 6 pairs of {a,b,c,d}
    assert adjusted_rand_index(TRUTH, merged) < 1.0


def test_all_singletons_have_no_recall_and_ari_zero():
    singletons = {doc: doc for doc in TRUTH}
    precision, recall, _ = pairwise_scores(TRUTH, singletons)
    assert (precision, recall) == (1.0, 0.0)
    assert adjusted_rand_index(TRUTH, singletons) == pytest.approx(0.0)


def test_missing_predictions_count_as_singletons():
    assert adjusted_rand_index(TRUTH, {"a": 9, "b": 9}) == adjusted_rand_index(
        TRUTH, {"a": 9, "b": 9, "c": "c", "d": "d", "e": "e"})


BODY = ("The council met on Monday to discuss the budget. Members argued for hours about the roads.\n"
        "The mayor said taxes would not rise this year. Critics called the plan unrealistic.\n"
        "A vote is expected next week. Residents can comment online until Friday.\n"
        "The last budget passed by a single vote. It was challenged in court.")


@pytest.mark.parametrize("kind", EDIT_KINDS)
def test_every_edit_kind_changes_the_text_but_keeps_most_of_its_words(kind):
    variant = make_variant(BODY, kind, random.Random(3))
    assert variant != BODY
    original, edited = set(BODY.split()), set(variant.split())
    assert len(original & edited) >= 0.5 * len(original)


def test_wmt_noisy_dev_meets_the_precision_and_recall_targets():
    docs = load_jsonl(shared_data("wmt-dev") / "dev_noisy.jsonl")
    truth = {d["id"]: d["cluster"] for d in docs}
    predicted, _, counts = pipeline_clusters(docs, ["--runner=FnApiRunner"])
    precision, recall, _ = pairwise_scores(truth, predicted)
    assert counts["accounted"]
    assert precision >= 0.97 and recall >= 0.92, (precision, recall)


def test_merged_source_articles_are_reported_apart_from_the_edit_kinds():
    from bench.dedup import per_kind_scores

    docs = [{"id": "a", "cluster": "a", "kind": "base"}, {"id": "av", "cluster": "a", "kind": "trim"},
            {"id": "b", "cluster": "b", "kind": "base"}, {"id": "bv", "cluster": "b", "kind": "reword"},
            {"id": "n", "cluster": "n", "kind": "hard_negative"}]
    # the two source articles merged; the hard negative wrongly joined a's trim.
    predicted = {"a": 1, "av": 1, "b": 1, "bv": 1, "n": 2}
    scores = per_kind_scores(docs, predicted)
    assert scores["trim"][:2] == (1.0, 1.0) and scores["reword"][:2] == (1.0, 1.0)
    assert scores["bases_merged"][2] == 4
    scores = per_kind_scores(docs, {"a": 1, "av": 1, "b": 2, "bv": 2, "n": 1})
    assert scores["hard_negative"][0] == 0.0 and scores["trim"][0] < 1.0


def test_the_scratch_folder_is_one_path_emptied_on_every_entry(tmp_path, monkeypatch):
    # pipeline_clusters writes its pages here: sources, hence doc ids and their tie-breaks,
    # must not change from run to run.
    from bench.dedup import fixed_scratch_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the folder and its lock land in tmp_path
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "from-a-killed-run").write_text("x")  # no exit cleanup ran
    with fixed_scratch_folder("scratch") as first:
        assert not any(first.iterdir())
        (first / "left-over").write_text("x")
    assert not first.exists()
    with fixed_scratch_folder("scratch") as second:
        assert second == first and not any(second.iterdir())
