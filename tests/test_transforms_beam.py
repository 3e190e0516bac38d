"""One TestPipeline test per Beam stage, checking its main and its reject output."""
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.clean import CleanDocuments
from transforms.routing import SplitRoutes
from transforms.language import DetectLanguage
from transforms.read import ReadRawFiles, ReadLimits
from apache_beam.io.filesystem import FileMetadata

ARTICLE = ("The meeting at the National Palace was called to discuss the new upsurge in the flow "
           "of people from Central and South America seeking to reach the United States.")


def page(source, content, fmt="text"):
    return {"source": source, "content": content, "format": fmt, "encoding": "utf-8"}


def test_read_sends_bad_files_to_rejects(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(ARTICLE, encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"  \n")
    files = [FileMetadata(str(good), good.stat().st_size), FileMetadata(str(empty), 3)]
    with TestPipeline(runner="FnApiRunner") as p:
        out = (p | beam.Create(files)
               | beam.ParDo(ReadRawFiles(ReadLimits())) | SplitRoutes("pages", "rejects"))
        assert_that(out["pages"] | "Sources" >> beam.Map(lambda r: (r["source"], r["format"])),
                    equal_to([(str(good), "text")]), label="CheckPages")
        assert_that(out["rejects"] | "Reasons" >> beam.Map(lambda r: (r["source"], r["reason"])),
                    equal_to([(str(empty), "empty")]), label="CheckRejects")


def test_clean_keeps_articles_and_rejects_pages_with_no_text():
    pages = [page("/a.txt", ARTICLE), page("/b.html", "<html><body></body></html>", "html")]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(pages) | beam.ParDo(CleanDocuments()) | SplitRoutes("documents", "rejects")
        assert_that(out["documents"] | "Docs" >> beam.Map(lambda d: (d["source"], d["text"], d["n_chars"])),
                    equal_to([("/a.txt", ARTICLE, len(ARTICLE))]), label="CheckDocuments")
        assert_that(out["rejects"] | "Rejects" >> beam.Map(lambda r: (r["source"], r["reason"])),
                    equal_to([("/b.html", "no_content")]), label="CheckRejects")


def test_language_is_added_without_changing_the_input():
    docs = [{"doc_id": "a", "text": ARTICLE}, {"doc_id": "b", "text": "Share"}]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs) | beam.ParDo(DetectLanguage()) | SplitRoutes("documents", "rejects")
        assert_that(out["rejects"], equal_to([]), label="NoRejects")
        assert_that(out["documents"] | beam.Map(lambda d: (d["doc_id"], d["language"], d["text"])),
                    equal_to([("a", "en", ARTICLE), ("b", "und", "Share")]))
