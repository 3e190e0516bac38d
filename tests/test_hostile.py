"""Every kind of broken or hostile input, in one run: each lands in exactly one table, with a
documented reason, and the run still exits 0 with every input accounted for.

All inputs are generated here; no binary fixture is committed."""
from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path

import pytest

from pipeline.cli import main as pipeline_main
from tests.conftest import read_table
from transforms.records import REJECT_REASONS

STORIES = {
    "utf16": "The city council approved a new budget for public libraries on Tuesday evening. "
             "Opening hours will be extended on weekends starting in March. Librarians welcomed "
             "the decision after years of cuts.",
    "utf8bom": "A regional airline announced three new routes to coastal towns this summer. The "
               "flights will run twice a week from the capital. Tickets go on sale next month, "
               "the company said in a statement.",
    "cp1252": "Le café du village a rouvert ses portes après deux années de travaux. « C’est une "
              "renaissance », a déclaré la maire devant une foule nombreuse. Les habitants ont "
              "salué l’effort des artisans locaux.",
    "latin1": "El pequeño museo de la montaña recibió una colección de mapas antiguos. La donación "
              "incluye cartas náuticas del siglo diecisiete. El director espera abrir la exposición "
              "en otoño.",
    "mojibake": "Die Bäckerei am Marktplatz feiert ihr hundertjähriges Bestehen mit einem Straßenfest. "
                "Der Inhaber öffnet dafür die alte Backstube für Besucher. Die Stadt unterstützt das "
                "Fest mit Bühnen und Musik.",
    "nul": "Farmers in the northern valley reported an early harvest of apples this year. Warm "
           "weather in spring helped the orchards bloom ahead of schedule. Prices at local markets "
           "have already started to fall.",
    "gzip": "A team of volunteers cleaned more than two tonnes of plastic from the river banks. The "
            "group plans monthly clean-ups through the autumn. Local schools have joined the effort "
            "with their own collection points.",
    "malformed": "The national orchestra will tour five cities in the spring with a new programme. "
                 "The conductor chose works by composers from the region. Concert halls expect "
                 "sold-out performances across the tour.",
    "laughs": "Engineers finished repairs on the old stone bridge two weeks ahead of schedule. Traffic "
              "will return to both lanes on Friday morning. The works cost less than the council "
              "had budgeted.",
    "unicode_name": "A young chess player from the suburbs won the national junior title on Sunday. "
                    "She did not lose a single game during the nine-round tournament. Her coach "
                    "praised her calm in the final match.",
    "copy": "Health officials opened a new clinic in the eastern district to shorten waiting times. "
            "The clinic will offer evening appointments for working families. Doctors hope to see "
            "two hundred patients a week.",
}

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<html><head><title>Bridge repairs</title></head><body><article><h1>Bridge repairs</h1><p>&lol9;</p>
<p>%s</p></article></body></html>"""


def gzip_bomb(inflated_bytes: int) -> bytes:
    """A few hundred KB of gzip that inflate to `inflated_bytes` zeros, built in 1 MB steps."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(inflated_bytes >> 20)]
    return b"".join(parts) + deflater.flush()


def _truncated_gzip(data: bytes) -> bytes:
    whole = gzip.compress(data)
    return whole[: len(whole) // 2]


def hostile_inputs(folder: Path | None) -> dict[str, tuple[str, str | None]]:
    """Writes every input into `folder` (None: writes nothing); returns file name -> (table it
    must land in, reject reason or None)."""
    rng = random.Random(7)
    bomb = gzip_bomb(300 << 20) if folder else b""
    files: dict[str, tuple[bytes, str, str | None]] = {
        "empty.txt": (b"", "rejects", "empty"),
        "whitespace.txt": (b"  \n\t\r\n   \n", "rejects", "empty"),
        "random.txt": (rng.randbytes(20_000), "rejects", "binary"),
        "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(5000), "rejects", "binary"),
        "utf16.txt": (STORIES["utf16"].encode("utf-16"), "documents", None),
        "utf8bom.txt": (b"\xef\xbb\xbf" + STORIES["utf8bom"].replace(". ", ".\r\n").encode("utf-8"),
                        "documents", None),
        "cp1252.txt": (STORIES["cp1252"].encode("cp1252"), "documents", None),
        "latin1.txt": (STORIES["latin1"].encode("latin-1"), "documents", None),
        "mojibake.txt": (STORIES["mojibake"].encode("utf-8").decode("latin-1").encode("utf-8"), "documents", None),
        "nul.txt": (STORIES["nul"].replace(" early ", " early\x00 ").encode("utf-8"), "documents", None),
        "long_line.txt": (b"word " * 2_000_000, "rejects", "too_large"),
        "many_lines.txt": (b"a line\n" * 200_000, "rejects", "too_large"),
        "valid.txt.gz": (gzip.compress(STORIES["gzip"].encode("utf-8")), "documents", None),
        "truncated.txt.gz": (_truncated_gzip(STORIES["gzip"].encode("utf-8")), "rejects", "read_error"),
        "corrupt.txt.gz": (b"\x1f\x8b\x08\x00" + rng.randbytes(2000), "rejects", "read_error"),
        "bomb.txt.gz": (bomb, "rejects", "too_large"),
        "malformed.html": (("<html><head><title>Tour</title><body><div><p>" + STORIES["malformed"]
                            + "<p><b>unclosed <i>tags</div></span></html></html><p <<>>").encode("utf-8"),
                           "documents", None),
        "laughs.html": ((BILLION_LAUGHS % STORIES["laughs"]).encode("utf-8"), "documents", None),
        "chrome_only.txt": (("Home\nNews\nSports\nWeather\nSign in\nSubscribe\nAccept all cookies\n"
                             "Privacy policy\n© 2026 The Daily Example\n").encode("utf-8"), "rejects", "no_content"),
        "naïve file ü.txt": (STORIES["unicode_name"].encode("utf-8"), "documents", None),
        # Which copy is kept follows the kept-copy rule; the test checks one of each.
        "copy a.txt": (STORIES["copy"].encode("utf-8"), "documents or duplicates", None),
        "copy b.txt": (STORIES["copy"].encode("utf-8"), "documents or duplicates", None),
    }
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (data, _, _) in files.items():
            (folder / name).write_bytes(data)
        (folder / "folder.txt").mkdir()  # a directory whose name matches the glob
    expected = {name: (table, reason) for name, (_, table, reason) in files.items()}
    expected["folder.txt"] = ("rejects", "not_a_file")
    return expected


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    expected = hostile_inputs(root / "in")
    out = root / "out"
    code = pipeline_main(["--input", str(root / "in" / "*"), "--output", str(out), "--runner=FnApiRunner"])
    rows = {table: read_table(out, table) for table in ("documents", "duplicates", "rejects")}
    summary = json.loads((out / "run.json").read_text())
    return code, expected, rows, summary


def _landing(rows, name):
    return [(table, row.get("reason")) for table, table_rows in rows.items() for row in table_rows
            if Path(row["source"]).name == name]




@pytest.mark.parametrize("name", sorted(hostile_inputs(None)))
def test_each_input_lands_in_exactly_one_table_with_its_reason(hostile_run, name):
    _, expected, rows, _ = hostile_run
    table, reason = expected[name]
    landed = _landing(rows, name)
    if table == "documents or duplicates":
        assert landed in ([("documents", None)], [("duplicates", None)])
    else:
        assert landed == [(table, reason)]


def test_exact_copies_keep_one_document_and_one_duplicate(hostile_run):
    _, _, rows, _ = hostile_run
    landed = sorted(_landing(rows, "copy a.txt") + _landing(rows, "copy b.txt"))
    assert landed == [("documents", None), ("duplicates", None)]
    assert [r["duplicate_kind"] for r in rows["duplicates"]] == ["exact"]


def test_the_run_exits_0_and_its_summary_counts_every_reason(hostile_run):
    code, expected, rows, summary = hostile_run
    assert code == 0
    counts = summary["counts"]
    assert counts["accounted"] and counts["inputs"] == len(expected)
    wanted: dict[str, int] = {}
    for table, reason in expected.values():
        if reason:
            wanted[reason] = wanted.get(reason, 0) + 1
    assert counts["rejects_by_reason"] == wanted
    assert set(wanted) <= set(REJECT_REASONS)
    assert all(row["detail"] for row in rows["rejects"])


def test_decoded_text_is_repaired_and_clean(hostile_run):
    _, _, rows, _ = hostile_run
    text = {Path(r["source"]).name: r["text"] for r in rows["documents"]}
    assert "Bäckerei" in text["mojibake.txt"] and "Ã" not in text["mojibake.txt"]
    assert "« C’est une renaissance »" in text["cp1252.txt"]
    assert "pequeño museo" in text["latin1.txt"]
    assert "\x00" not in text["nul.txt"] and "early apples" not in text["nul.txt"]
    assert "\r" not in text["utf8bom.txt"] and not text["utf8bom.txt"].startswith("\ufeff")
    assert "lollol" not in text["laughs.html"] and "stone bridge" in text["laughs.html"]
    assert "national orchestra" in text["malformed.html"]
