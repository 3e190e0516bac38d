import pytest

from transforms.records import REJECT_REASONS, TABLE_SCHEMAS, doc_id_for, make_reject


def test_every_column_of_every_table_has_a_description():
    for table, schema in TABLE_SCHEMAS.items():
        assert schema.metadata[b"table"].decode() == table
        for field in schema:
            assert field.metadata and field.metadata[b"description"], f"{table}.{field.name}"


def test_duplicates_table_is_documents_plus_dedup_columns():
    docs = TABLE_SCHEMAS["documents"].names
    dups = TABLE_SCHEMAS["duplicates"].names
    assert dups[: len(docs)] == docs
    assert set(dups[len(docs):]) == {"duplicate_of", "duplicate_kind", "similarity"}


def test_doc_id_depends_only_on_the_source():
    assert doc_id_for("/a/b.txt") == doc_id_for("/a/b.txt")
    assert doc_id_for("/a/b.txt") != doc_id_for("/a/c.txt")
    assert len(doc_id_for("gs://bucket/x.html")) == 16


def test_reject_rows_use_documented_reasons_only():
    row = make_reject("/x.txt", "empty", "nothing there")
    assert row == {"doc_id": doc_id_for("/x.txt"), "source": "/x.txt", "reason": "empty", "detail": "nothing there"}
    assert "empty" in REJECT_REASONS
    with pytest.raises(ValueError):
        make_reject("/x.txt", "emptyy", "typo in a reason code")
