"""The collection readers: every format, the id/text/metadata rules, and every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jcolbert.documents import (
    ReadOptions,
    ReadReport,
    batched,
    input_format,
    read_documents,
    read_queries,
    scan_documents,
)
from jcolbert.errors import InputError


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def docs(inputs, **options) -> list[dict]:
    return list(read_documents(inputs, ReadOptions(**options)))


# --- JSONL -------------------------------------------------------------------------------------


def test_jsonl_ids_text_metadata(tmp_path):
    f = write(
        tmp_path / "c.jsonl",
        '{"id": "a", "text": "first", "lang": "en"}\n'
        "\n"
        '{"text": "second", "metadata": {"year": 2024}, "extra": [1, 2]}\n'
        '"a bare string"\n',
    )
    out = docs(f)
    assert out == [
        {"id": "a", "text": "first", "metadata": {"lang": "en"}},
        {"id": "c.jsonl:3", "text": "second", "metadata": {"year": 2024, "extra": [1, 2]}},
        {"id": "c.jsonl:4", "text": "a bare string", "metadata": {}},
    ]


def test_jsonl_beir_underscore_id_and_joined_fields(tmp_path):
    f = write(tmp_path / "corpus.jsonl", '{"_id": "d1", "title": "Title", "text": "Body"}\n')
    assert docs(f, text_field="title,text") == [{"id": "d1", "text": "Title\nBody", "metadata": {}}]


def test_jsonl_explicit_id_field(tmp_path):
    f = write(tmp_path / "c.jsonl", '{"doc": "x1", "body": "hello"}\n')
    assert docs(f, id_field="doc", text_field="body")[0]["id"] == "x1"
    g = write(tmp_path / "d.jsonl", '{"body": "hello"}\n')
    with pytest.raises(InputError, match=r"d\.jsonl line 1: no value for the id field 'doc'"):
        docs(g, id_field="doc", text_field="body")


def test_jsonl_malformed_names_file_and_line(tmp_path):
    f = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": "ok too"}\n{"text": broken}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl line 3: invalid JSON") as info:
        scan_documents(f)
    assert "\n" not in str(info.value)


def test_jsonl_missing_text_field(tmp_path):
    f = write(tmp_path / "c.jsonl", '{"id": 1, "body": "x"}\n')
    with pytest.raises(
        InputError,
        match=r"c\.jsonl line 1: no field 'text' \(fields: id, body\); choose the text with --text-field",
    ):
        docs(f)


def test_jsonl_wrong_types(tmp_path):
    with pytest.raises(InputError, match=r"line 1: expected a JSON object or string, got list"):
        docs(write(tmp_path / "a.jsonl", "[1, 2]\n"))
    with pytest.raises(InputError, match=r"line 1: field 'text' is a int, expected text"):
        docs(write(tmp_path / "b.jsonl", '{"text": 5}\n'))


def test_empty_text_is_an_error_unless_skipped(tmp_path):
    f = write(tmp_path / "c.jsonl", '{"text": "x"}\n{"text": "   "}\n')
    with pytest.raises(InputError, match=r"c\.jsonl line 2: the text is empty \(pass --skip-empty"):
        docs(f)
    report = ReadReport()
    out = list(read_documents(f, ReadOptions(skip_empty=True), report))
    assert [d["id"] for d in out] == ["c.jsonl:1"] and len(report.empty) == 1
    assert report.skipped_summary() == "skipped 1 empty document(s)"


def test_json_array(tmp_path):
    f = write(tmp_path / "c.json", json.dumps(["one", {"id": "b", "text": "two"}]))
    assert [(d["id"], d["text"]) for d in docs(f)] == [("c.json:1", "one"), ("b", "two")]


# --- CSV / TSV / Parquet -----------------------------------------------------------------------


def test_csv_with_quotes_and_newlines(tmp_path):
    f = write(tmp_path / "c.csv", 'id,text,lang\nx,"a, quoted\nmultiline text",en\ny,plain,fr\n')
    out = docs(f)
    assert out[0] == {"id": "x", "text": "a, quoted\nmultiline text", "metadata": {"lang": "en"}}
    assert out[1]["id"] == "y"


def test_csv_ids_default_to_row_numbers(tmp_path):
    f = write(tmp_path / "c.csv", "body\nalpha\nbeta\n")
    assert [d["id"] for d in docs(f, text_field="body")] == ["c.csv:1", "c.csv:2"]


def test_csv_without_the_named_column(tmp_path):
    f = write(tmp_path / "c.csv", "id,body\n1,x\n")
    with pytest.raises(
        InputError, match=r"c\.csv: no column 'text' \(columns: id, body\); choose the text with --text-field"
    ):
        docs(f)
    with pytest.raises(InputError, match=r"no column 'key' for the id"):
        docs(f, text_field="body", id_field="key")


def test_csv_ragged_row(tmp_path):
    f = write(tmp_path / "c.csv", "id,text\n1,x\n2,y,extra\n")
    with pytest.raises(InputError, match=r"c\.csv line 3: 3 fields, but the header has 2"):
        docs(f)


def test_tsv_header_and_headerless(tmp_path):
    f = write(tmp_path / "c.tsv", 'id\ttext\n7\ta "quote" stays\n')
    assert docs(f) == [{"id": "7", "text": 'a "quote" stays', "metadata": {}}]
    g = write(tmp_path / "collection.tsv", "0\tfirst passage\n1\tsecond passage\n")
    assert [(d["id"], d["text"]) for d in docs(g, header=False)] == [
        ("0", "first passage"),
        ("1", "second passage"),
    ]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    f = tmp_path / "c.parquet"
    pq.write_table(pa.table({"doc_id": ["p1", "p2"], "content": ["one", "two"], "n": [1, 2]}), f)
    out = docs(f, id_field="doc_id", text_field="content")
    assert out == [
        {"id": "p1", "text": "one", "metadata": {"n": 1}},
        {"id": "p2", "text": "two", "metadata": {"n": 2}},
    ]
    with pytest.raises(InputError, match=r"c\.parquet: no column 'text' \(columns: doc_id, content, n\)"):
        docs(f)
    bad = write(tmp_path / "bad.parquet", b"not parquet at all")
    with pytest.raises(InputError, match=r"bad\.parquet: not a readable Parquet file"):
        docs(bad)


# --- text files and folders --------------------------------------------------------------------


def test_txt_is_one_document_per_line(tmp_path):
    f = write(tmp_path / "lines.txt", "alpha\n\nbeta\n")
    assert [(d["id"], d["text"]) for d in docs(f)] == [("lines.txt:1", "alpha"), ("lines.txt:3", "beta")]


def test_folder_relative_paths_binary_and_other_files_counted(tmp_path):
    root = tmp_path / "notes"
    write(root / "a.md", "# A\nalpha")
    write(root / "sub" / "b.txt", "beta")
    write(root / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    write(root / "photo.png", b"\x89PNG\x00\x00")
    write(root / "script.py", "print('hi')")
    write(root / "empty.txt", "  \n")
    write(root / ".hidden.md", "secret")
    report = ReadReport()
    out = list(read_documents(root, ReadOptions(), report))
    assert [d["id"] for d in out] == [f"{root.name}/a.md", f"{root.name}/sub/b.txt"]
    assert out[1]["metadata"] == {"path": "sub/b.txt"}
    assert sorted(report.binary_files) == ["image.txt", "photo.png"]
    assert report.other_files == ["script.py"] and report.empty == ["empty.txt"]
    assert report.skipped_summary() == (
        "skipped 2 binary file(s), 1 empty document(s), 1 file(s) that are not .txt/.md/.rst"
    )


def test_non_utf8_is_an_error_naming_file_and_offset_or_replaced(tmp_path):
    root = tmp_path / "docs"
    write(root / "latin1.txt", "caf\u00e9".encode("latin-1"))
    with pytest.raises(
        InputError,
        match=r"latin1\.txt: not valid UTF-8 \(byte 0xe9 at offset 3\); .*--encoding-errors replace",
    ):
        docs(root)
    assert docs(root, encoding_errors="replace")[0]["text"] == "caf\ufffd"
    f = write(tmp_path / "c.jsonl", b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"c\.jsonl line 2: not valid UTF-8 \(byte 0xe9 at offset 28\)"):
        docs(f)


def test_utf8_bom_is_ignored(tmp_path):
    f = write(tmp_path / "c.csv", "\ufeffid,text\n1,x\n".encode())
    assert docs(f)[0]["id"] == "1"


def test_positional_ids_name_their_input(tmp_path):
    """Default ids never collide across inputs, whether read together or in separate runs (issue 9:
    a.txt then b.txt both got ids 1, 2, ... and b.txt was skipped as already indexed)."""
    a = write(tmp_path / "a.jsonl", '{"text": "x"}\n')
    b = write(tmp_path / "b.txt", "y\n")
    c = write(tmp_path / "c.txt", "z\n")
    assert [d["id"] for d in docs([a, b])] == ["a.jsonl:1", "b.txt:1"]
    assert [d["id"] for d in docs(b)] + [d["id"] for d in docs(c)] == ["b.txt:1", "c.txt:1"]
    one, two = tmp_path / "one", tmp_path / "two"
    write(one / "n.md", "first")
    write(two / "n.md", "second")
    assert [d["id"] for d in docs(one)] + [d["id"] for d in docs(two)] == ["one/n.md", "two/n.md"]


def test_query_files_keep_bare_line_numbers(tmp_path):
    assert read_queries(write(tmp_path / "q.txt", "one\ntwo\n")) == [("1", "one"), ("2", "two")]


def test_unsupported_and_missing_inputs(tmp_path):
    with pytest.raises(InputError, match=r"no such file or folder"):
        input_format(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match=r"unsupported input type '\.docx'"):
        input_format(write(tmp_path / "x.docx", b"PK"))


def test_scan_rejects_duplicates_and_empty_input(tmp_path):
    f = write(tmp_path / "c.jsonl", '{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(InputError, match=r"duplicate document id 'a' \(documents 1 and 2"):
        scan_documents(f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"the input holds no documents"):
        scan_documents(tmp_path / "empty")
    ok = scan_documents(write(tmp_path / "ok.jsonl", '{"text": "x"}\n{"text": "y"}\n'))
    assert ok.count == 2 and ok.ids == ["ok.jsonl:1", "ok.jsonl:2"]


def test_read_queries_formats(tmp_path):
    tsv = write(tmp_path / "q.tsv", "q1\twhat is colbert\nq2\tlate interaction\n")
    assert read_queries(tsv) == [("q1", "what is colbert"), ("q2", "late interaction")]
    jl = write(tmp_path / "queries.jsonl", '{"_id": "7", "text": "x", "metadata": {}}\n')
    assert read_queries(jl) == [("7", "x")]
    txt = write(tmp_path / "q.txt", "one\ntwo\n")
    assert read_queries(txt) == [("1", "one"), ("2", "two")]
    empty = write(tmp_path / "e.tsv", "q1\t \n")
    with pytest.raises(InputError, match=r"e\.tsv line 1: the text is empty"):
        read_queries(empty)


def test_batched():
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]
    with pytest.raises(InputError):
        list(batched([1], 0))
