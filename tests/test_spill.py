"""Fingerprints spilled to disk (transforms.spill) and the dedup stage reading them back."""
from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.test_neardup import ARTICLE, CONFIG, REWORDED, SAME_EVENT, _doc, _fp
from transforms import spill
from transforms.dedup import DecideDuplicates, fingerprint_from_index, index_row, slim_record
from transforms.neardup import Fingerprint
from transforms.records import INDEX_SCHEMA, doc_id_for
from transforms.state import PriorIndex
from transforms.write import RunLayout, WriteIndexShards, read_parquet_rows, write_parquet


def test_fingerprint_bytes_round_trip_keeps_sentences_not_counts():
    fp = _fp("a", ARTICLE).with_frequencies([3, 1, 1, 1, 2])
    back = Fingerprint.from_bytes("a", fp.to_bytes())
    assert back.sentences == fp.sentences and back.doc_id == "a"
    assert [back.frequency(i) for i in range(len(back))] == [1] * len(back)


@pytest.mark.parametrize("cut", [1, 3, 4, 6, 8])
def test_truncated_fingerprint_bytes_are_refused(cut):
    data = _fp("a", ARTICLE).to_bytes()
    with pytest.raises(ValueError):
        Fingerprint.from_bytes("a", data[:-cut])


def test_spilled_fingerprints_read_back_in_any_order_across_more_files_than_stay_open(tmp_path):
    texts = {"a": ARTICLE, "b": REWORDED, "c": SAME_EVENT}
    where = {}
    for name in ("one", "two", "three"):
        writer = spill.SpillWriter(str(tmp_path / name))
        for doc_id, text in texts.items():
            where[name, doc_id] = (str(tmp_path / name), *writer.write(_fp(f"{name}-{doc_id}", text)))
        writer.close()
    spills = spill._OpenSpills(capacity=2)
    for (name, doc_id), (staged, offset, size) in sorted(where.items(), reverse=True) * 2:
        data = spills.read(spill.spill_path(staged), offset, size)
        assert Fingerprint.from_bytes(doc_id, data).sentences == _fp(doc_id, texts[doc_id]).sentences
    assert len(spills._handles) == 2
    spills.close_all()
    assert not spills._handles


def test_a_fingerprint_cut_short_on_disk_is_an_error_not_a_wrong_answer(tmp_path):
    writer = spill.SpillWriter(str(tmp_path / "s"))
    offset, size = writer.write(_fp("a", ARTICLE))
    writer.close()
    with pytest.raises(IOError):
        spill._OpenSpills().read(spill.spill_path(str(tmp_path / "s")), offset + 4, size)


def test_load_fingerprint_passes_an_inline_fingerprint_through():
    fp = _fp("a", ARTICLE)
    assert spill.load_fingerprint("a", fp) is fp


def test_a_spilled_counted_fingerprint_goes_on_small_and_comes_back_with_its_counts(tmp_path):
    writer = spill.SpillWriter(str(tmp_path / "s"))
    source = (str(tmp_path / "s"), *writer.write(_fp("a", ARTICLE)))
    writer.close()
    counted = spill.load_fingerprint("a", source).with_frequencies([3, 1, 1, 1, 2])
    deferred = spill.defer_counted(counted, source)
    assert deferred == ("a", source, counted.packed_frequencies) and len(deferred[2]) == 4 * len(counted)
    back = spill.resolve_counted(deferred)
    assert back == counted and [back.frequency(i) for i in range(len(back))] == [3, 1, 1, 1, 2]
    with pytest.raises(ValueError):  # counts cut short must not read as zeros
        spill.resolve_counted(("a", source, counted.packed_frequencies[:-4]))
    spill.close_spills()
    inline = _fp("a", ARTICLE).with_frequencies([2, 1, 1, 1, 1])
    assert spill.resolve_counted(spill.defer_counted(inline, _fp("a", ARTICLE))) is inline


@pytest.mark.parametrize("with_index,spill_keys_and_pairs", [(True, False), (False, False), (False, True)])
def test_spilled_slim_records_get_the_decisions_and_index_of_inline_ones(tmp_path, with_index, spill_keys_and_pairs):
    docs = [_doc("a", ARTICLE), _doc("b", REWORDED), _doc("c", SAME_EVENT), _doc("a2", ARTICLE.upper())]
    staged = str(tmp_path / "staged.parquet")
    writer = spill.SpillWriter(staged)
    spilled = [slim_record(doc, CONFIG, 0, staged, writer) for doc in docs]
    writer.close()
    inline = [slim_record(doc, CONFIG, 0, staged) for doc in docs]
    assert all(isinstance(s["fp"], tuple) for s in spilled) and all(isinstance(s["fp"], Fingerprint) for s in inline)
    expected = [("a", "keep", None, None), ("c", "keep", None, None),
                ("b", "duplicate", "a", "near"), ("a2", "duplicate", "a", "exact")]
    inline_index = sorted((row["doc_id"], row["sentences"]) for row in (index_row(s, "r") for s in inline)
                          if row["doc_id"] in ("a", "c"))
    folder = tmp_path / "dedup"
    layout = RunLayout(str(tmp_path / "out"), "r", str(tmp_path / "state"))
    with TestPipeline(runner="FnApiRunner") as p:
        decided = p | beam.Create(spilled) | DecideDuplicates(
            CONFIG, with_index=with_index, spill_folder=str(folder) if spill_keys_and_pairs else None)
        assert_that(decided["decisions"] | "Ids" >> beam.Map(lambda d: (d[0][0], d[1][0], d[1][1], d[1][2])),
                    equal_to(expected), label="decisions")
        reports = decided["index"] | WriteIndexShards(layout, num_shards=2)
        assert_that(reports | "Rows" >> beam.Map(lambda r: r["stats"]["rows"]) | beam.CombineGlobally(sum),
                    equal_to([2 if with_index else 0]), label="index rows")
    assert not spill._SPILLS._handles, "a step that read spilled fingerprints left their files open"
    written = sorted((row["doc_id"], row["sentences"])
                     for path in sorted(Path(layout.staging_dir("index")).glob("*.parquet"))
                     for row in read_parquet_rows(str(path)))
    assert written == (inline_index if with_index else [])
    # the keys, and the near pair (a, b) they make, went through files exactly when asked
    assert bool(list(folder.glob("*" + spill.KEYS_SUFFIX))) == spill_keys_and_pairs
    assert bool(list(folder.glob("*" + spill.PAIRS_SUFFIX))) == spill_keys_and_pairs


def test_blobs_read_back_in_order_and_a_cut_file_is_an_error(tmp_path):
    blobs = [b"", b"\x00" * 5, bytes(range(256)) * 300, b"last"]
    writer = spill.BlobFileWriter(str(tmp_path), spill.KEYS_SUFFIX)
    for blob in blobs:
        writer.write(blob)
    writer.close()
    assert list(spill.read_blobs([writer.path])) == blobs
    with open(writer.path, "r+b") as handle:
        handle.truncate(len(blobs[2]))  # inside the third blob
    with pytest.raises(IOError, match="ends inside a blob"):
        list(spill.read_blobs([writer.path]))


def test_one_blob_files_read_back_as_written(tmp_path):
    blobs = [b"", bytes(range(256)) * 3, b"\xff" * 70_000]
    paths = [spill.write_blob_file(str(tmp_path / "pairs"), spill.PAIRS_SUFFIX, blob) for blob in blobs]
    assert len(set(paths)) == 3
    assert list(spill.read_blobs(paths)) == blobs


@pytest.mark.parametrize("spill_fingerprints", [True, False])
def test_staging_spills_fingerprints_next_to_each_staging_file_only_when_asked(tmp_path, spill_fingerprints):
    from transforms.write import RunLayout, StageDocuments

    stage = StageDocuments(RunLayout(str(tmp_path), "run"), 2, CONFIG, spill_fingerprints=spill_fingerprints)
    stage.setup()
    stage.start_bundle()
    texts = {"a": ARTICLE, "b": REWORDED, "c": SAME_EVENT}
    docs = [{**_doc(doc_id, text), "source": f"file:///{doc_id}.txt", "format": "text", "language_score": 1.0,
             "removed": []} for doc_id, text in texts.items()]
    slims = [slim for doc in docs for slim in stage.process(doc)]
    stage.finish_bundle()
    staged = {slim["staged"] for slim in slims}
    spilled = {str(path) for path in tmp_path.rglob("*" + spill.SPILL_SUFFIX)}
    assert spilled == ({spill.spill_path(path) for path in staged} if spill_fingerprints else set())
    for slim in slims:
        assert isinstance(slim["fp"], tuple) == spill_fingerprints
        assert spill.load_fingerprint(slim["doc_id"], slim["fp"]).sentences == _fp("x", texts[slim["doc_id"]]).sentences


def test_large_blocks_are_returned_promptly_where_glibc_allows():
    import platform

    from transforms.write import return_large_blocks_promptly

    assert return_large_blocks_promptly() == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def _dedup_counts(slims, expected_decisions=None, folder=None, config=CONFIG) -> dict[str, int]:
    """Run DecideDuplicates on the FnApiRunner, asserting its (doc_id, verdict) decisions when
    given; its near-duplicate counts, summed as the commit step sums them."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        summed = Path(scratch) / "counts.json"
        p = TestPipeline(runner="FnApiRunner")
        decided = p | beam.Create(slims) | DecideDuplicates(config, with_index=False, spill_folder=folder)
        if expected_decisions is not None:
            assert_that(decided["decisions"] | beam.Map(lambda d: (d[0][0], d[1][0])), equal_to(expected_decisions))
        _ = (decided["counts"]
             | beam.CombinePerKey(sum)
             | beam.combiners.ToList()
             | beam.Map(lambda items, path: Path(path).write_text(json.dumps(dict(items))), str(summed)))
        p.run().wait_until_finish()
        return json.loads(summed.read_text())


@pytest.mark.parametrize("spill_keys_and_pairs", [False, True])
def test_the_near_duplicate_steps_count_the_same_keys_pairs_and_candidates_on_both_sides(tmp_path, spill_keys_and_pairs):
    from transforms.dedup import FLOW_HOPS, NEAR_EDGES, dedup_flow_problems, firsts_by_pair_partition
    docs = [_doc("a", ARTICLE), _doc("b", REWORDED), _doc("c", SAME_EVENT)]
    counts = _dedup_counts([slim_record(doc, CONFIG) for doc in docs],
                           [("a", "keep"), ("b", "duplicate"), ("c", "keep")],
                           str(tmp_path / "dedup") if spill_keys_and_pairs else None)
    for sent, received, _ in FLOW_HOPS:
        assert counts[sent] == counts[received] > 0, (sent, received, counts)
    assert counts[NEAR_EDGES] == 1  # a and b
    assert dedup_flow_problems(counts) == []
    # every pair partition has its count, 0 where no pair was filed, so an empty one shows as empty
    assert sorted(firsts_by_pair_partition(counts)) == list(range(CONFIG.lsh_partitions))
    assert 1 <= sum(firsts_by_pair_partition(counts).values()) <= counts["candidate_pairs"]


def test_a_pair_file_lost_between_steps_is_reported_not_silent(tmp_path, monkeypatch):
    from transforms import dedup
    real = dedup.read_blobs

    def losing_pair_files(paths):
        paths = list(paths)
        if any(path.endswith(spill.PAIRS_SUFFIX) for path in paths):
            paths = []  # as if every pair file had come back empty
        return real(paths)

    monkeypatch.setattr(dedup, "read_blobs", losing_pair_files)
    docs = [_doc("a", ARTICLE), _doc("b", REWORDED), _doc("c", SAME_EVENT)]
    # the near duplicate b is missed...
    counts = _dedup_counts([slim_record(doc, CONFIG) for doc in docs], [("a", "keep"), ("b", "keep"), ("c", "keep")],
                           str(tmp_path / "dedup"))
    problems = dedup.dedup_flow_problems(counts)
    assert len(problems) == 1 and "bytes of colliding pairs" in problems[0]  # ...and the run says where
    assert "STEPS DISAGREE" in dedup.format_dedup_counts(counts)


def test_dedup_flow_problems_name_each_hop_that_lost_something_and_judge_no_run_without_counts():
    from transforms.dedup import (CANDIDATE_PAIRS, CANDIDATE_PAIRS_JOINED, KEY_BLOBS_GROUPED, KEY_BLOBS_MADE,
                                  PAIR_BYTES_GROUPED, PAIR_BYTES_MADE, PAIRS_JUDGED, dedup_flow_problems)
    agreeing = {KEY_BLOBS_MADE: 10, KEY_BLOBS_GROUPED: 10, PAIR_BYTES_MADE: 120, PAIR_BYTES_GROUPED: 120,
                CANDIDATE_PAIRS: 4, CANDIDATE_PAIRS_JOINED: 4, PAIRS_JUDGED: 4}
    assert dedup_flow_problems(agreeing) == []
    assert dedup_flow_problems({}) == []
    # a step that sent nothing at all (its count route lost) against one that received
    assert dedup_flow_problems({k: v for k, v in agreeing.items() if k != KEY_BLOBS_MADE}) == [
        "LSH key blobs, LshKeys -> BucketPairs: 0 sent, 10 received"]
    lost = dict(agreeing, **{CANDIDATE_PAIRS_JOINED: 1})
    problems = dedup_flow_problems(lost)
    # the join received fewer than were sent, and Verify judged more than the join passed on
    assert len(problems) == 2
    assert "4 sent, 1 received" in problems[0] and "EnoughCollisions -> AttachCounts" in problems[0]
    assert "1 sent, 4 received" in problems[1]


def test_uneven_pair_partitions_flag_a_shortfall_only_where_chance_cannot_explain_it():
    import random

    from transforms.dedup import FIRSTS_PREFIX, format_dedup_counts, uneven_pair_partitions
    rng = random.Random(11)

    def partitions(counts):
        return {**{f"{FIRSTS_PREFIX}{p}": n for p, n in enumerate(counts)}, "candidate_pairs": 9999}

    sound = [rng.randint(180, 220) for _ in range(16)]
    assert uneven_pair_partitions(partitions(sound)) == []
    one_short = list(sound)
    one_short[5] = 60
    problems = uneven_pair_partitions(partitions(one_short))
    assert len(problems) == 1 and problems[0].startswith("pair partition 5: 60 pages")
    assert "PAIR PARTITIONS UNEVEN: pair partition 5" in format_dedup_counts(partitions(one_short))
    # one of two workers keeping 30% of its partitions' first pages (session 15's run: 21-25%)
    lost_worker = [count * 3 // 10 if p % 2 else count for p, count in enumerate(sound)]
    assert [problem.split(":")[0] for problem in uneven_pair_partitions(partitions(lost_worker))] == [
        f"pair partition {p}" for p in range(1, 16, 2)]
    # a large run: 40% fewer is far outside binomial chance, but flagged only from half
    large = [rng.randint(1950, 2050) for _ in range(16)]
    assert uneven_pair_partitions(partitions(large[:-1] + [1200])) == []
    assert len(uneven_pair_partitions(partitions(large[:-1] + [900]))) == 1
    # too few pages a partition to tell a loss from chance, or too few partitions
    assert uneven_pair_partitions(partitions([20] * 15 + [0])) == []
    assert uneven_pair_partitions(partitions([200] * 6 + [0])) == []
    assert uneven_pair_partitions({"candidate_pairs": 3}) == []
    # an empty partition (a run seeds every partition with 0, see the counting test above)
    assert [problem.split(":")[0] for problem in uneven_pair_partitions(partitions(sound[:9] + [0] + sound[10:]))] == [
        "pair partition 9"]


def _made_up_sentences(rng):
    """A source of sentences of made-up words (a vocabulary of 4,000), so that two of them share
    next to no words by chance."""
    vocabulary = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
                  for _ in range(4000)]

    def sentence() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(10, 16))).capitalize() + "."

    return sentence


def test_a_worker_that_keeps_too_few_candidate_pairs_shows_in_uneven_partitions_though_the_steps_agree(monkeypatch):
    import dataclasses
    import random
    import zlib

    from transforms import dedup

    rng = random.Random(17)
    config = dataclasses.replace(CONFIG, lsh_partitions=8)
    sentence = _made_up_sentences(rng)
    docs = []
    for number in range(480):
        story = [sentence() for _ in range(8)]
        docs.append(_doc(f"{rng.getrandbits(64):016x}", " ".join(story)))
        for _ in range(2 if number % 4 == 0 else 1):  # some stories copied twice: a page first in two pairs
            docs.append(_doc(f"{rng.getrandbits(64):016x}", " ".join(story[:-1] + [sentence()])))  # last sentence new
    real = dedup.worth_verifying_pairs

    def odd_partitions_lost(blobs, config):
        return [(a, b) for a, b in real(blobs, config) if zlib.crc32(a.encode()) % 8 % 2 == 0]

    slims = [slim_record(doc, config) for doc in docs]
    sound = _dedup_counts(slims, config=config)
    firsts = dedup.firsts_by_pair_partition(sound)
    # each story's first page at least (a few chance pairs join them), and a page first in two pairs once
    assert min(firsts.values()) > 0 and 480 <= sum(firsts.values()) < sound[dedup.CANDIDATE_PAIRS]
    assert dedup.dedup_flow_problems(sound) == [] and dedup.uneven_pair_partitions(sound) == []

    # All of the odd partitions' pairs lost: at ~65 pages a partition a 70% loss like session 15's
    # would sit near the threshold (it shows from ~100).
    monkeypatch.setattr(dedup, "worth_verifying_pairs", odd_partitions_lost)
    lossy = _dedup_counts(slims, config=config)
    assert dedup.dedup_flow_problems(lossy) == []  # every hop agrees: the loss is inside a step
    assert [problem.split(":")[0] for problem in dedup.uneven_pair_partitions(lossy)] == [
        f"pair partition {p}" for p in (1, 3, 5, 7)]
    assert all(lossy[f"{dedup.FIRSTS_PREFIX}{p}"] == 0 for p in (1, 3, 5, 7))


@pytest.mark.parametrize("spilled", [False, True])
def test_an_earlier_runs_index_comes_back_as_slim_records_of_the_latest_version(tmp_path, spilled):
    sources = {name: f"/crawl/{name}.html" for name in ("a", "b", "c")}
    ids = {name: doc_id_for(source) for name, source in sources.items()}
    first = [index_row(slim_record(_doc(ids[n], text), CONFIG), "r1")
             for n, text in (("a", ARTICLE), ("b", REWORDED), ("c", SAME_EVENT))]
    # a later run kept a new version of a
    second = [index_row(slim_record(_doc(ids["a"], SAME_EVENT), CONFIG), "r2")]
    paths = [str(tmp_path / "r1.parquet"), str(tmp_path / "r2.parquet")]
    for path, rows in zip(paths, (first, second)):
        write_parquet(path, INDEX_SCHEMA, rows)
    folder = tmp_path / "spill"
    with TestPipeline(runner="FnApiRunner") as p:
        # b's input is ingested again now: its old version is superseded
        now = p | beam.Create([(FileMetadata(sources["b"], 1), None)])
        priors = now | PriorIndex(paths, str(folder) if spilled else None)
        for name in ("current", "superseded"):
            assert_that(priors[name] | f"Load{name}" >> beam.Map(
                            lambda s: (s["doc_id"], s["run_id"], s["prior"],
                                       spill.load_fingerprint(s["doc_id"], s["fp"]).to_bytes())),
                        equal_to([(row["doc_id"], row["run_id"], True, fingerprint_from_index(row).to_bytes())
                                  for row in ([second[0], first[2]] if name == "current" else [first[1]])]),
                        label=name)
            assert_that(priors[name] | f"Kinds{name}" >> beam.Map(lambda s: isinstance(s["fp"], tuple)),
                        equal_to([spilled] * (2 if name == "current" else 1)), label=f"{name} spilled")
    spill.close_spills()
    assert len(list(folder.glob("*" + spill.SPILL_SUFFIX))) == (2 if spilled else 0)
