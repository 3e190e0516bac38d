import subprocess
import sys

from transforms.language import MIN_LETTERS, UNDETERMINED, load_langdetect, vote_language

GERMAN = "Die Regierung hat am Mittwoch neue Maßnahmen zur Migration beschlossen, sagte der Sprecher."
FRENCH = "Le gouvernement a annoncé mercredi de nouvelles mesures pour limiter la migration vers le nord."
ENGLISH = "The government announced new measures on Wednesday to deal with migration across the border."


def fixed(answer):
    def probabilities(text):
        return answer
    return probabilities


def test_short_paragraphs_do_not_vote():
    calls = []

    def probabilities(text):
        calls.append(text)
        return [("so", 1.0)]

    assert vote_language(["X", "Share"], probabilities) == (UNDETERMINED, 0.0)
    assert calls == []


def test_vote_is_weighted_by_letters():
    answers = {ENGLISH * 3: [("en", 1.0)], FRENCH: [("fr", 1.0)]}
    lang, score = vote_language([ENGLISH * 3, FRENCH], lambda t: answers[t[:600]] if t[:600] in answers else answers[t])
    assert lang == "en"
    assert 0.6 < score < 0.8


def test_weak_winner_gives_und():
    lang, score = vote_language([ENGLISH], fixed([("en", 0.3), ("nl", 0.3)]))
    assert lang == UNDETERMINED and score == 0.3


def test_chinese_variants_map_to_iso_639_1():
    assert vote_language([ENGLISH], fixed([("zh-cn", 0.99)]))[0] == "zh"


def test_real_detector_on_three_languages_and_a_mixed_page():
    probabilities = load_langdetect()
    assert vote_language([GERMAN], probabilities)[0] == "de"
    assert vote_language([FRENCH], probabilities)[0] == "fr"
    # A long English article with one short foreign paragraph is still English.
    assert vote_language([ENGLISH * 4, FRENCH], probabilities)[0] == "en"
    assert vote_language(["12345 !!!"], probabilities) == (UNDETERMINED, 0.0)
    assert len("".join(c for c in GERMAN if c.isalpha())) >= MIN_LETTERS


PROBE = r"""
import threading
from transforms.language import load_langdetect, vote_language
texts = [%r, %r, %r]
out = []
def work():
    detect = load_langdetect()
    for t in texts * 5:
        out.append((t, vote_language([t], detect)[0]))
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
print(set(out) == set(zip(texts, ["de", "fr", "en"])), len(out))
""" % (GERMAN, FRENCH, ENGLISH)


def test_eight_threads_in_a_fresh_process_agree():
    # The first call races on profile loading in a fresh process: run it in one.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["True", "120"], result.stderr[-2000:]


def test_long_pages_vote_with_first_middle_and_last_paragraph_only():
    paragraphs = [f"{ENGLISH} number {i}" for i in range(10)]
    calls = []

    def probabilities(text):
        calls.append(text)
        return [("en", 1.0)]

    assert vote_language(paragraphs, probabilities)[0] == "en"
    assert [c.rsplit(" ", 1)[1] for c in calls] == ["0", "4", "9"]
