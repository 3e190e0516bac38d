"""Near-duplicate logic (pure functions) and the Beam dedup stage."""
from __future__ import annotations

import collections
import hashlib
import itertools
import random
import warnings

import datetime

import apache_beam as beam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SEEDS
from transforms.dedup import (CANDIDATE_PAIRS_JOINED, DEDUP_COUNT, FINGERPRINT, FIRST, DecideDuplicates,
                              DeduplicateDocuments, _attach_frequencies, assign_clusters, content_hash, keep_rank,
                              slim_record)
from transforms.neardup import (DOC_KEY_SENTENCE, Fingerprint, NearDupConfig, bucket_pairs, informative, key_digest, packed_keys,
                                partition_pairs, sketch_jaccard, worth_verifying_pairs, candidate_keys, content_words, linked_clusters,
                                fingerprint, fold, pack_id, split_sentences, unpack_id, verify, widest_paths,
                                with_frequencies, sentence_hashes, sentence_ids, sentence_similarity, stopwords,
                                token_id, worth_verifying,
                                _worth_verifying_arrays, _worth_verifying_walk)
from transforms.textclean import clean_text

CONFIG = NearDupConfig()

ARTICLE = ("The central bank raised its main interest rate by half a point on Thursday. "
           "Governor Maria Olsen said inflation in the northern provinces had reached eleven percent. "
           "Exporters warned that the stronger currency would hurt shipments of timber and fish. "
           "Opposition leader Tomas Berg called the decision reckless and demanded a parliamentary hearing. "
           "Markets in Oslo and Stockholm fell sharply after the announcement.")
# The same story rendered by another hand: reworded, one sentence dropped, one added.
REWORDED = ("On Thursday the central bank lifted its main interest rate by half a point. "
            "Inflation in the northern provinces reached eleven percent, Governor Maria Olsen said. "
            "Timber and fish exporters warned the stronger currency would hurt shipments. "
            "Shares in Oslo and Stockholm fell sharply after the announcement. "
            "The bank will meet again in March.")
# Another article on the same event: same names and figures, different sentences.
SAME_EVENT = ("Tomas Berg, the opposition leader, has spent a decade attacking the central bank. "
              "His party gained seats in the northern provinces last year. "
              "Analysts expect him to use the hearing to push for a referendum on the bank's independence. "
              "Maria Olsen was appointed governor in 2019 by the previous government.")


def _fp(doc_id: str, text: str):
    return fingerprint(doc_id, text, "en", CONFIG)


def test_fold_merges_accented_and_plain_spellings():
    assert fold("López") == fold("Lopez") == "lopez"


def test_content_words_drop_stop_words_and_single_letters():
    assert content_words("The bank of Norway and a Q3 loss", frozenset({"the", "of", "and"})) == [
        "bank", "norway", "q3", "loss"]


# words as written: cases, accents, digits, underscores, single letters, stop words of several lists
_raw_words = st.sampled_from(["The", "the", "THE", "und", "Und", "der", "a", "A", "7", "_", "x_y", "López",
                              "Lopez", "lopez", "Straße", "STRASSE", "año", "ano", "İstanbul", "ǅemal",
                              "bank", "Bank", "Q3", "de", "la", "of", "é", "ﬁnance"])
_sentence_text = st.lists(st.one_of(_raw_words, st.text(min_size=1, max_size=6)), max_size=12).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(_sentence_text, min_size=1, max_size=6),
       st.lists(st.sampled_from(["en", "de", "es", None, "xx"]), min_size=1, max_size=3),
       st.sampled_from([2, 8, 1 << 18]))
def test_sentence_ids_are_the_ids_of_the_content_words(sentences, languages, table_size):
    import transforms.neardup as neardup

    # the table of words met is only a cache: a small one, cleared often, gives the same ids
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neardup, "_WORD_CACHE_SIZE", table_size)
        patch.setattr(neardup, "_CONTENT_IDS", {})
        longest = max(len(neardup._WORD.findall(sentence)) for sentence in sentences)
        # twice: met before, then from the table; each sentence in each language, in turn
        for sentence, language in itertools.product(sentences * 2, languages):
            expected = {token_id(w) for w in content_words(sentence, stopwords(language))}
            assert sentence_ids(sentence, language) == expected
            # all languages' tables cleared when together full, before a sentence's new words go in
            assert sum(map(len, neardup._CONTENT_IDS.values())) <= table_size + longest


def test_split_sentences_splits_at_sentence_ends_and_lines():
    assert split_sentences("One two. Three four!\nFive six") == ["One two.", "Three four!", "Five six"]


def _similarity_by_dicts(a: Fingerprint, b: Fingerprint, config: NearDupConfig) -> tuple[float, int]:
    """sentence_similarity as first written (per-sentence dicts of overlaps over the sentences'
    sets): the reference the array version must equal, float for float."""
    def rows(fp):
        return [(fp.sentences[i], min(1.0, config.common_sentence / fp.frequency(i)))
                for i, ids in enumerate(fp.sentences) if len(ids) >= config.min_sentence_words]

    rows_a, rows_b = rows(a), rows(b)
    if not rows_a or not rows_b:
        return 0.0, 0
    if (sum(w for _, w in rows_a), len(rows_a)) <= (sum(w for _, w in rows_b), len(rows_b)):
        shorter, other = rows_a, b
    else:
        shorter, other = rows_b, a
    longer = [ids for ids in other.sentences if ids]
    total = sum(w for _, w in shorter)
    if total < 1.0:
        if len(shorter) < config.min_sentences_all_common:
            return 0.0, 0
        shorter = [(ids, 1.0) for ids, _ in shorter]
        total = float(len(shorter))
    matched, score = 0, 0.0
    for ids, weight in shorter:
        overlap = collections.Counter(position for position, them in enumerate(longer) for _ in ids & them)
        best = max((2 * count / (len(ids) + len(longer[position])) for position, count in overlap.items()),
                   default=0.0)
        if best >= config.sentence_floor:
            score += weight * best
        matched += best >= config.sentence_match
    return score / total, matched


# small id ranges, so sentences share words; empty sentences too (Fingerprint.from_bytes keeps
# them); lists with repeated ids, which a fingerprint holds once
_sentences = st.lists(st.one_of(st.frozensets(st.integers(0, 40), max_size=9),
                                st.lists(st.integers(0, 40), max_size=9)), max_size=14)


@settings(max_examples=300, deadline=None)
@given(_sentences, _sentences, st.data(), st.sampled_from([0, 1, 2, 4]), st.sampled_from([1, 4]),
       st.integers(0, 6), st.sampled_from([0.0, 0.4]), st.sampled_from([0.5, 0.2]))
def test_sentence_similarity_equals_the_dict_reference(sentences_a, sentences_b, data, min_words, common,
                                                      min_all_common, floor, match):
    config = NearDupConfig(min_sentence_words=min_words, common_sentence=common,
                           min_sentences_all_common=min_all_common, sentence_floor=floor, sentence_match=match)
    a, b = Fingerprint("a", sentences_a), Fingerprint("b", sentences_b)
    if data.draw(st.booleans()):  # counted as in a corpus, or 1 each
        a = a.with_frequencies(data.draw(st.lists(st.integers(1, 12), min_size=len(a), max_size=len(a))))
        b = b.with_frequencies(data.draw(st.lists(st.integers(1, 12), min_size=len(b), max_size=len(b))))
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("error")  # numpy's 0 / 0 warns before it gives NaN
        got = sentence_similarity(a, b, config)
        patch.setattr("transforms.neardup.DICE_BLOCK_CELLS", data.draw(st.sampled_from([1, 5, 40])))
        assert sentence_similarity(a, b, config) == got  # counted a few rows at a time
    assert got == _similarity_by_dicts(a, b, config)
    assert a.sentences == tuple(frozenset(ids) for ids in sentences_a)
    assert type(got[0]) is float and type(got[1]) is int
    assert informative(a, config) == [i for i, ids in enumerate(a.sentences) if len(ids) >= min_words]


def test_sentence_similarity_counts_shared_words_per_sentence_pair():
    # row sentence {1,2,3,4} shares 3 words with {2,3,4,9} (Dice 6/8) and 1 with {1,7,8,9}
    a = Fingerprint("a", [{1, 2, 3, 4}])
    b = Fingerprint("b", [{1, 7, 8, 9}, {2, 3, 4, 9}, {20, 21, 22, 23, 24}])
    assert sentence_similarity(a, b, NearDupConfig(min_sentence_words=4)) == (0.75, 1)
    # a best Dice of exactly the floor (2 * 1 / (2 + 3) = 0.4) still counts
    pair = Fingerprint("a", [{1, 2}]), Fingerprint("b", [{1, 5, 6}, {30, 31, 32}])
    assert sentence_similarity(*pair, NearDupConfig(min_sentence_words=2, sentence_floor=0.4)) == (0.4, 0)


def test_reworded_copy_is_similar_and_other_article_is_not():
    similarity = verify(_fp("a", ARTICLE), _fp("b", REWORDED), CONFIG)
    assert similarity is not None and similarity >= 0.75
    assert verify(_fp("a", ARTICLE), _fp("c", SAME_EVENT), CONFIG) is None


def test_shared_boilerplate_weighs_little():
    chrome = "\nFollow us on Twitter and Instagram for the latest breaking news from around the world."
    chrome += "\nSign up for our newsletter to get the latest news delivered to your inbox every morning."
    a, c = _fp("a", SAME_EVENT + chrome), _fp("c", ARTICLE + chrome)
    assert verify(a, c, CONFIG) is not None  # the chrome lines do match...
    counts = {h: 50 for h in sentence_hashes(a)[-2:]}  # ...but occur on 50 pages
    assert verify(with_frequencies(a, counts), with_frequencies(c, counts), CONFIG) is None


def test_candidate_keys_are_deterministic_and_shared_by_copies():
    keys_a = {k for k, _, _ in candidate_keys(_fp("a", ARTICLE), CONFIG)}
    assert keys_a == {k for k, _, _ in candidate_keys(_fp("a", ARTICLE), CONFIG)}
    assert keys_a & {k for k, _, _ in candidate_keys(_fp("b", REWORDED), CONFIG)}


def _reference_signature(hasher, ids) -> list[int]:
    """MinHash by its definition, in Python integers: min over the ids of ((a x + b) mod 2^64) mod p
    per permutation, with a cut to 32 bits (numpy's uint64 arithmetic wraps at 2^64)."""
    mersenne = (1 << 61) - 1
    return [min(((int(a) & 0xFFFFFFFF) * x + int(b)) % (1 << 64) % mersenne for x in ids)
            for a, b in zip(hasher.a, hasher.b)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.frozensets(st.integers(0, (1 << 32) - 1), max_size=7), max_size=10),
       st.integers(0, 4), st.sampled_from([(2, 10), (3, 5), (4, 16)]))
def test_signatures_and_band_keys_follow_their_definition(sentences, min_words, shape):
    from transforms.neardup import _hasher, band_keys

    rows, bands = shape
    hasher = _hasher(rows * bands, 1)
    fp = Fingerprint("a", sentences)
    ids, lengths = fp.packed_arrays()
    chosen = np.flatnonzero(lengths >= max(min_words, 1))
    signatures = hasher.signatures(ids, lengths, chosen)
    assert signatures.shape == (len(chosen), rows * bands)
    for row, signature in zip(chosen.tolist(), signatures):
        assert signature.tolist() == _reference_signature(hasher, sorted(sentences[row]))
        # each band's key: its values as little-endian uint64, digested
        assert band_keys(signature, rows, "s") == [
            f"s{band}:" + hashlib.blake2b(b"".join(int(v).to_bytes(8, "little") for v in
                                                   signature[band * rows:(band + 1) * rows]),
                                          digest_size=8).hexdigest()
            for band in range(bands)]
    if len(ids):
        assert hasher.signature(np.unique(ids)).tolist() == _reference_signature(hasher, set(ids.tolist()))
        # the document-level keys and sketch come from all its words, each once
        config = NearDupConfig(min_sentence_words=max(min_words, 1))
        doc_hasher = _hasher(config.doc_rows * config.doc_bands, config.seed + 1)
        expected = np.array(_reference_signature(doc_hasher, set(ids.tolist())), dtype=np.uint64)
        document_keys = {(k, sketch) for k, index, sketch in candidate_keys(fp, config) if index == DOC_KEY_SENTENCE}
        assert document_keys == {(k, (expected & np.uint64(0xFF)).astype(np.uint8).tobytes())
                                 for k in band_keys(expected, config.doc_rows, "d")}
    if not lengths.all():
        with pytest.raises(ValueError):
            hasher.signatures(ids, lengths, np.flatnonzero(lengths == 0))


def test_document_keys_pair_only_documents_whose_sketches_agree():
    def doc_members(doc_id, text):
        (sketch,) = {s for _, index, s in candidate_keys(_fp(doc_id, text), CONFIG) if index == DOC_KEY_SENTENCE}
        return doc_id, DOC_KEY_SENTENCE, sketch

    unrelated = ("The orchestra opened its winter season with a new symphony by a young composer. "
                 "Critics praised the strings and the conductor's brisk tempo in the final movement. "
                 "Tickets for the remaining concerts sold out within hours of going on sale.")
    copy, reworded, other = doc_members("a", ARTICLE), doc_members("b", REWORDED), doc_members("c", unrelated)
    assert sketch_jaccard(copy[2], copy[2]) == 1.0
    assert sketch_jaccard(copy[2], reworded[2]) >= CONFIG.doc_min_jaccard
    assert sketch_jaccard(copy[2], other[2]) < CONFIG.doc_min_jaccard
    pairs = [p for p, _ in bucket_pairs([copy, reworded, other], CONFIG, "d0:x")]
    assert pairs == [("a", "b")]


def test_crowded_bucket_links_each_member_a_bounded_number_of_times():
    config = NearDupConfig(max_bucket=3, bucket_fan_out=2)
    members = [(f"d{i:03d}", 0, None) for i in range(200)]
    pairs = [p for p, _ in bucket_pairs(members, config, "key-1")]
    assert len(pairs) == 200 * 2  # each member linked to the next two in the bucket's own order
    degree = collections.Counter(doc for pair in pairs for doc in pair)
    assert set(degree) == {doc for doc, _, _ in members} and max(degree.values()) == 4
    assert all(a < b for a, b in pairs)
    assert pairs == [p for p, _ in bucket_pairs(list(reversed(members)), config, "key-1")]  # order-free
    # Another key orders the members differently, so copies sharing many keys meet many partners.
    assert set(pairs) != {p for p, _ in bucket_pairs(members, config, "key-2")}
    assert len(bucket_pairs(members[:3], config, "key-1")) == 3  # a small bucket: all pairs


def test_a_page_level_match_alone_needs_one_colliding_sentence_unless_a_page_has_almost_none():
    page_level = (DOC_KEY_SENTENCE, DOC_KEY_SENTENCE)
    assert not worth_verifying([page_level], 20, 20, CONFIG)
    assert worth_verifying([page_level, (3, 8)], 20, 20, CONFIG)
    assert worth_verifying([page_level], 1, 20, CONFIG)


def test_one_colliding_sentence_between_long_pages_is_not_worth_verifying():
    assert not worth_verifying([(5, 7)], 20, 20, CONFIG)
    assert not worth_verifying([(5, 7), (6, 9)], 20, 20, CONFIG)
    assert worth_verifying([(i, i) for i in range(5)], 20, 20, CONFIG)
    assert worth_verifying([(5, 7), (6, 9)], 4, 6, CONFIG)
    assert worth_verifying([(0, 3)], 1, 6, CONFIG)  # a one-sentence stub can collide only once


def test_clusters_merge_copies_but_one_stray_edge_does_not_chain_two_stories():
    story_one = [("a", "b", 0.9), ("a", "c", 0.8), ("b", "c", 0.85)]
    story_two = [("x", "y", 0.7), ("x", "z", 0.75), ("y", "z", 0.8)]
    stray = [("c", "x", 0.5)]  # wrong edges score lower than copies of one story
    assert linked_clusters(story_one + story_two, 0.3) == [["a", "b", "c"], ["x", "y", "z"]]
    assert linked_clusters(story_one + story_two + stray, 0.3) == [["a", "b", "c"], ["x", "y", "z"]]
    # Plain connected components (no linkage needed) would chain them.
    assert linked_clusters(story_one + story_two + stray, 0.0) == [["a", "b", "c", "x", "y", "z"]]


def test_a_big_cluster_verified_sparsely_still_merges_but_a_stray_edge_does_not():
    # 60 copies of one story, each verified against 4 others only (as crowded buckets give).
    copies = [f"w{i:02d}" for i in range(60)]
    sparse = [(copies[i], copies[(i + step) % 60], 0.9 - 0.001 * i) for i in range(60) for step in (1, 2, 7, 19)]
    assert linked_clusters(sparse, 0.3) == [sorted(copies)]
    assert linked_clusters(sparse, 0.3, edges_per_member=10 ** 6) != [sorted(copies)]  # density alone splits it
    other = [("x", "y", 0.9), ("x", "z", 0.9), ("y", "z", 0.9)]
    stray = [("w00", "x", 0.5)]  # one wrong edge (weaker than copies' edges) joins nothing
    assert linked_clusters(sparse + other + stray, 0.3) == [sorted(copies), ["x", "y", "z"]]


def test_a_page_whose_every_sentence_is_common_is_compared_only_if_it_is_an_article():
    sentences = [s.rstrip(".") + "." for s in ARTICLE.split(". ")]
    sentences.append("Analysts expect a further rise in the spring if prices keep climbing.")
    story = _fp("a", "\n".join(sentences))
    trimmed = _fp("b", "\n".join(sentences[:-1]))
    everywhere = {h: 110 for h in sentence_hashes(story)}  # a story republished 110 times
    assert len(informative(trimmed, CONFIG)) >= CONFIG.min_sentences_all_common
    assert verify(with_frequencies(story, everywhere), with_frequencies(trimmed, everywhere), CONFIG) is not None
    chrome = _fp("c", "Sign up for our newsletter to get the latest news every morning.\n"
                      "Follow our reporters on social media for breaking news and updates.")
    chrome_elsewhere = _fp("d", SAME_EVENT + "\nSign up for our newsletter to get the latest news every morning.\n"
                                "Follow our reporters on social media for breaking news and updates.")
    on_many_pages = {h: 110 for h in sentence_hashes(chrome)}
    assert verify(with_frequencies(chrome, on_many_pages), with_frequencies(chrome_elsewhere, on_many_pages),
                  CONFIG) is None


def test_widest_paths_take_the_strongest_chain():
    edges = [("a", "b", 0.9), ("b", "c", 0.6), ("a", "c", 0.4)]
    assert widest_paths("a", edges) == {"b": 0.9, "c": 0.6}


def test_assign_clusters_keeps_the_best_ranked_member():
    ranks = {"a": (-100, False, "", "a"), "b": (-500, False, "", "b"), "c": (-100, True, "", "c")}
    edges = [("a", "b", 0.8, ranks["a"], ranks["b"]), ("b", "c", 0.7, ranks["b"], ranks["c"])]
    assert dict(assign_clusters(edges, 0.3)) == {"a": ("b", 0.8), "c": ("b", 0.7)}


def test_assign_clusters_ignores_edges_between_clusters_the_linkage_kept_apart():
    rank = {doc_id: (-n, False, "", doc_id) for n, doc_id in enumerate("abcxy")}
    plain = [("a", "b", 0.9), ("a", "c", 0.9), ("b", "c", 0.9), ("x", "y", 0.8), ("c", "x", 0.35)]
    edges = [(a, b, s, rank[a], rank[b]) for a, b, s in plain]
    # One edge in six pairs across {a, b, c} and {x, y}: under min_linkage, two clusters.
    assert sorted(assign_clusters(edges, 0.3)) == [("a", ("c", 0.9)), ("b", ("c", 0.9)), ("x", ("y", 0.8))]


def test_keep_rank_prefers_longer_then_earlier_then_smaller_id():
    base = {"n_chars": 10, "published": None, "doc_id": "b"}
    longer = {**base, "n_chars": 11}
    dated = {**base, "published": datetime.date(2020, 1, 1)}
    smaller_id = {**base, "doc_id": "a"}
    assert sorted([base, longer], key=keep_rank)[0] is longer
    assert sorted([base, dated], key=keep_rank)[0] is dated
    assert sorted([base, smaller_id], key=keep_rank)[0] is smaller_id


def _doc(doc_id: str, text: str) -> dict:
    return {"doc_id": doc_id, "text": text, "language": "en", "n_chars": len(text), "published": None,
            "content_hash": content_hash(text)}


def test_dedup_stage_joins_copies_and_keeps_other_articles():
    docs = [_doc("a", ARTICLE), _doc("b", REWORDED), _doc("c", SAME_EVENT), _doc("a2", ARTICLE.upper())]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs) | DeduplicateDocuments()
        kept, dups = out["kept"], out["duplicates"]
        assert_that(kept | "KeptIds" >> beam.Map(lambda d: d["doc_id"]), equal_to(["a", "c"]), label="kept")
        assert_that(dups | "DupIds" >> beam.Map(lambda d: (d["doc_id"], d["duplicate_of"], d["duplicate_kind"])),
                    equal_to([("b", "a", "near"), ("a2", "a", "exact")]), label="dups")


@pytest.mark.parametrize("with_index", [True, False])
def test_decisions_do_not_depend_on_whether_an_index_is_kept(with_index):
    docs = [_doc("a", ARTICLE), _doc("b", REWORDED), _doc("c", SAME_EVENT), _doc("a2", ARTICLE.upper())]
    with TestPipeline(runner="FnApiRunner") as p:
        slim = p | beam.Create(docs) | beam.Map(slim_record, CONFIG, 0, "staged")
        decided = slim | DecideDuplicates(CONFIG, with_index=with_index)
        assert_that(decided["decisions"] | "Ids" >> beam.Map(lambda d: (d[0][0], d[1][0], d[1][1], d[1][2])),
                    equal_to([("a", "keep", None, None), ("c", "keep", None, None),
                              ("b", "duplicate", "a", "near"), ("a2", "duplicate", "a", "exact")]), label="decisions")
        assert_that(decided["index"] | "IndexIds" >> beam.Map(lambda d: d["doc_id"]),
                    equal_to(["a", "c"] if with_index else []), label="index")


@pytest.mark.parametrize("other", ["001", "002", "003"])
def test_seed_wire_story_renderings_match_and_other_seed_articles_do_not(other):
    def seed_fp(prefix):
        path = next(SEEDS.glob(f"{prefix}_*"))
        return _fp(prefix, clean_text(path.read_text(encoding="utf-8")).text)

    assert verify(seed_fp("000"), seed_fp("004"), CONFIG) is not None
    assert verify(seed_fp("000"), seed_fp(other), CONFIG) is None
    assert verify(seed_fp("004"), seed_fp(other), CONFIG) is None


_VARIED = {"a": ARTICLE, "b": REWORDED, "c": SAME_EVENT, "a2": ARTICLE.replace("Thursday", "Friday")}
# Six copies of one page, two keys each, all in buckets over max_bucket: each key's fan-out
# order (drawn from the key) picks a ring of 6 of the 15 pairs, so the order shows in the pairs.
_CROWDED = {f"d{i}": ARTICLE for i in range(6)}
_FEW_KEYS = {"key_sentences": 1, "sentence_bands": 1, "doc_bands": 1, "max_bucket": 2, "bucket_fan_out": 1}


@pytest.mark.parametrize("docs, overrides, priors", [(_VARIED, {}, {"c"}), (_CROWDED, _FEW_KEYS, {"d0", "d4"})],
                         ids=["varied", "crowded"])
def test_packed_shuffles_give_the_pairs_of_the_plain_buckets(docs, overrides, priors):
    config = NearDupConfig(lsh_partitions=4, **overrides)
    fps = {doc_id: _fp(doc_id, text) for doc_id, text in docs.items()}
    partitions = collections.defaultdict(list)
    for doc_id, fp in fps.items():
        for partition, member in packed_keys(fp, doc_id in priors, config):
            partitions[partition].append(member)
    pair_partitions = collections.defaultdict(list)
    for members in partitions.values():
        for partition, packed in partition_pairs(members, config):
            pair_partitions[partition].append(packed)
    worth = sorted(pair for packed in pair_partitions.values() for pair in worth_verifying_pairs(packed, config))
    # The same pairs the unpacked functions find, bucket by bucket (the packed shuffle knows a
    # key by its 8-byte digest, so that names the bucket here too).
    buckets = collections.defaultdict(list)
    for doc_id, fp in fps.items():
        for key, sentence, sketch in candidate_keys(fp, config):
            buckets[key_digest(key).hex()].append((doc_id, sentence, sketch))
    hits = collections.defaultdict(list)
    for key, members in buckets.items():
        for pair, hit in bucket_pairs(members, config, key):
            if not (pair[0] in priors and pair[1] in priors):
                hits[pair].append(hit)
    sizes = {d: min(len(informative(fp, config)), config.key_sentences) for d, fp in fps.items()}
    expected = sorted(p for p, h in hits.items() if worth_verifying(h, sizes[p[0]], sizes[p[1]], config))
    assert worth == expected
    if docs is _VARIED:
        assert ("a", "a2") in worth and ("a", "b") in worth
    else:  # two earlier-run documents are never paired; crowding leaves some pairs out
        assert ("d0", "d4") not in worth and 0 < len(worth) < 14


def test_pair_partitions_do_not_depend_on_the_order_key_blobs_arrive_in():
    config = NearDupConfig(lsh_partitions=1, **_FEW_KEYS)
    docs = {**_CROWDED, **_VARIED}
    members = [member for doc_id, text in docs.items() for _, member in packed_keys(_fp(doc_id, text), False, config)]

    def worth(blobs):
        return sorted(pair for _, packed in partition_pairs(blobs, config)
                      for pair in worth_verifying_pairs([packed], config))

    assert worth(members) == worth(members[::-1]) != []
    assert list(partition_pairs([], config)) == []
    # a page whose keys all fell elsewhere has no blob here; one alone in a partition pairs with nothing
    assert list(partition_pairs(members[:1], config)) == []


def _pair_partitions(docs: dict[str, str], config: NearDupConfig, priors=frozenset()) -> list[list[bytes]]:
    partitions = collections.defaultdict(list)
    for doc_id, text in docs.items():
        for partition, member in packed_keys(_fp(doc_id, text), doc_id in priors, config):
            partitions[partition].append(member)
    pair_partitions = collections.defaultdict(list)
    for members in partitions.values():
        for partition, packed in partition_pairs(members, config):
            pair_partitions[partition].append(packed)
    return [pair_partitions[key] for key in sorted(pair_partitions)]


def _hex_ids(docs: dict[str, str]) -> dict[str, str]:
    return {hashlib.sha256(name.encode()).hexdigest()[:16]: text for name, text in docs.items()}


@pytest.mark.parametrize("docs, overrides", [
    (_VARIED, {}), (_CROWDED, _FEW_KEYS), ({**_CROWDED, **_VARIED}, {}), ({**_CROWDED, **_VARIED}, _FEW_KEYS),
    # document-level keys only (short texts), and pages with one informative sentence
    ({"s1": ARTICLE.split(". ")[0], "s2": ARTICLE.split(". ")[0] + ".", "s3": REWORDED}, {"key_sentences": 0}),
], ids=["varied", "crowded", "mixed", "mixed-few-keys", "document-keys"])
def test_pairs_judged_as_arrays_are_those_of_the_walk(docs, overrides):
    config = NearDupConfig(lsh_partitions=3, **overrides)
    hex_docs = _hex_ids(docs)
    chosen = []
    for blobs in _pair_partitions(hex_docs, config, priors={next(iter(hex_docs))}):
        walked = list(_worth_verifying_walk(blobs, config))
        assert _worth_verifying_arrays(blobs, config) == walked
        assert list(worth_verifying_pairs(blobs, config)) == walked
        chosen += walked
    assert chosen, "the documents should give some pair worth verifying"
    assert _worth_verifying_arrays([], config) == []


def test_random_pair_blobs_are_judged_as_the_walk_judges_them():
    rng = random.Random(5)
    config = NearDupConfig()
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(12)]
    informative_of = {doc_id: rng.choice([0, 1, 2, 3, 8, 20]) for doc_id in ids}
    for _ in range(200):
        blobs = []
        for _ in range(rng.randint(1, 3)):
            blob = b""
            for a in rng.sample(ids, rng.randint(1, 4)):
                entries = b""
                n = rng.randint(0, 12)
                for _ in range(n):
                    b = rng.choice(ids)
                    hit = (0xFF, 0xFF) if rng.random() < 0.3 else (rng.randint(0, 6), rng.randint(0, 6))
                    entries += pack_id(b) + bytes((informative_of[b], *hit))
                blob += pack_id(a) + bytes((informative_of[a],)) + n.to_bytes(2, "little") + entries
            blobs.append(blob)
        assert _worth_verifying_arrays(blobs, config) == list(_worth_verifying_walk(blobs, config))


def test_pairs_with_ids_of_any_form_are_walked():
    config = NearDupConfig(lsh_partitions=1)
    mixed = _pair_partitions({**_VARIED, **_hex_ids(_VARIED)}, config)[0]
    assert _worth_verifying_arrays(mixed, config) is None  # "a", "b": not packed hex ids
    pairs = list(worth_verifying_pairs(_pair_partitions(_VARIED, config)[0], config))
    assert ("a", "a2") in pairs
    # the walk picks the pairs the arrays pick for the same pages under hex ids
    hex_of = dict(zip(_VARIED, _hex_ids(_VARIED)))
    hex_pairs = _worth_verifying_arrays(_pair_partitions(_hex_ids(_VARIED), config)[0], config)
    assert {frozenset(map(hex_of.get, pair)) for pair in pairs} == set(map(frozenset, hex_pairs))


@pytest.mark.parametrize("doc_id", ["0123456789abcdef", "a", "ÆØÅ-ünïcode", "0123456789ABCDEF", "0123456789abcde"])
def test_packed_ids_read_back_whatever_their_form(doc_id):
    packed = pack_id(doc_id) + pack_id("fedcba9876543210")
    first, at = unpack_id(packed, 0)
    second, end = unpack_id(packed, at)
    assert (first, second, end) == (doc_id, "fedcba9876543210", len(packed))
    # the pipeline's own ids (16 lowercase hex digits, doc_id_for) take 9 bytes
    assert len(pack_id(doc_id)) == (9 if doc_id == "0123456789abcdef" else 2 + len(doc_id.encode("utf-8")))


def test_only_documents_in_a_candidate_pair_go_on_to_verification():
    fp = _fp("a", ARTICLE)
    rank = keep_rank({"doc_id": "a", "n_chars": 10, "published": None})

    def routed(pairs, seconds):
        grouped = {"fingerprint": [(fp, rank)], "counts": [], "pairs": pairs, "seconds": seconds}
        return sorted((tag, value if tag == DEDUP_COUNT else value[0])
                      for tag, value in _attach_frequencies(("a", grouped)))

    assert routed([], []) == []
    assert routed([], [None]) == [(FINGERPRINT, "a")]
    # with how many pairs it is first in, for the join's side of that hop's check
    assert routed(["b", "c"], []) == [(DEDUP_COUNT, (CANDIDATE_PAIRS_JOINED, 2)), (FIRST, "b"), (FIRST, "c")]
    assert routed(["b"], [None, None]) == [(DEDUP_COUNT, (CANDIDATE_PAIRS_JOINED, 1)), (FINGERPRINT, "a"),
                                           (FIRST, "b")]


def test_sentence_counts_travel_packed_per_document_and_unpack_to_hashes():
    from transforms.dedup import _count_sentences, unpack_counts
    from transforms.neardup import pack_id
    shared, also_shared, own = b"\x01" * 8, b"\x02" * 8, b"\x03" * 8
    a, b, c = "00000000000000aa", "00000000000000bb", "doc c"
    blobs = [pack_id(a) + shared + also_shared + own, pack_id(b) + shared + also_shared, pack_id(c) + shared]
    out = dict(_count_sentences((0, blobs)))
    assert sorted(out) == [a, b, c]  # one element per document; nothing for a sentence on one page
    assert unpack_counts([out[a]]) == {shared.hex(): 3, also_shared.hex(): 2}
    assert unpack_counts([out[c]]) == {shared.hex(): 3}
    # a document's counts from several partitions merge
    other_partition = dict(_count_sentences((1, [pack_id(c) + own, pack_id(b) + own])))
    assert unpack_counts([out[c], other_partition[c]]) == {shared.hex(): 3, own.hex(): 2}
