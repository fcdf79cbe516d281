"""Metadata and id filters: one parser for Python, the CLI and HTTP specs, with defined semantics
(keys matched literally, values by JSON type, None = explicit null), and hit serialisation."""

from __future__ import annotations

import pytest

from jcolbert.errors import InputError
from jcolbert.index import Hit, Index
from jcolbert.index.filters import Filter, coerce, from_cli
from test_index_data import make_docs, query_from

DIM = 32
METAS = [
    {"lang": "en", "year": 2024, "flag": True},           # a
    {"lang": "fr", "year": 2023, "flag": 1},              # b: 1, not true
    {"lang": "en", "year": 2024.0, "note": None},         # c: explicit null
    {'say "hi"': "yes", "clé": "été", "a.b": 1, "$x": 2},  # d: keys that are not plain words
    {"lang": "EN", "year": "2024"},                       # e: a CSV-style text year
    None,                                                 # f: no metadata
]
IDS = list("abcdef")


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Index:
    idx = Index.create(tmp_path_factory.mktemp("flt") / "idx", dim=DIM)
    idx.add_embeddings(IDS, make_docs(len(IDS), dim=DIM, seed=1), texts=[f"text {i}" for i in IDS], metadata=METAS)
    return idx


def found(index: Index, flt) -> list[str]:
    q = query_from(make_docs(1, dim=DIM, seed=1)[0])
    return sorted(h.id for h in index.search_embeddings(q, k=10, filter=flt))


@pytest.mark.parametrize(("spec", "expected"), [
    ({"lang": "en"}, ["a", "c"]),                        # strings: exact, case-sensitive
    ({"year": 2024}, ["a", "c"]),                        # numbers: numerically (2024.0 too), never the text "2024"
    ({"year": "2024"}, ["e"]),
    ({"flag": True}, ["a"]),                             # True does not match a stored 1 ...
    ({"flag": 1}, ["b"]),                                # ... nor 1 a stored true
    ({"note": None}, ["c"]),                             # None: an explicit null only, not a missing key
    ({'say "hi"': "yes"}, ["d"]),                        # keys with quotes, non-ASCII, dots, dollars: literal
    ({"clé": "été"}, ["d"]),
    ({"a.b": 1, "$x": 2}, ["d"]),
    ({"lang": ["en", "fr"]}, ["a", "b", "c"]),           # a list: any of
    ({"lang": "en", "ids": ["a", "b"]}, ["a"]),          # ids combine with metadata clauses
    ({"ids": ["f", "zzz"]}, ["f"]),
    ({"missing": None}, []),
])
def test_spec_semantics(index, spec, expected) -> None:
    assert found(index, spec) == expected
    assert found(index, Filter.parse(spec)) == expected
    assert Filter.parse(Filter.parse(spec).to_spec()) == Filter.parse(spec)


def test_cli_filters_match_typed_values_or_their_text(index) -> None:
    assert found(index, from_cli(["year=2024"])) == ["a", "c", "e"]  # 2024, 2024.0 and the text "2024"
    assert found(index, from_cli(["lang=en", "flag=true"])) == ["a"]
    assert found(index, from_cli(["id=a,e", "lang=EN"])) == ["e"]
    assert found(index, from_cli(['say "hi"=yes'])) == ["d"]
    assert from_cli([]) is None and from_cli(None) is None
    for bad in (["noequals"], ["=x"], ["id="]):
        with pytest.raises(InputError, match="--filter"):
            from_cli(bad)


def test_python_forms_still_work(index) -> None:
    assert found(index, ["a", "b"]) == ["a", "b"]
    assert found(index, lambda m: m.get("lang") == "fr") == ["b"]
    with pytest.raises(InputError, match="single string"):
        coerce("a")


@pytest.mark.parametrize(("spec", "message"), [
    ({"k": [1, [2]]}, "must be a string, number"),
    ({"k": {"nested": 1}}, "must be a string, number"),
    ({"k": float("nan")}, "JSON has no NaN"),
    ({"k": []}, "empty list"),
    ({"ids": [1, 2]}, "strings only"),
    ("lang=en", "single string"),
    (3, "must be a Filter"),
])
def test_bad_filters_are_input_errors(index, spec, message) -> None:
    with pytest.raises(InputError, match=message):
        found(index, spec)


def test_hits_serialise_with_what_was_asked(index) -> None:
    q = query_from(make_docs(1, dim=DIM, seed=1)[0])
    hit = index.search_embeddings(q, k=1, filter={"ids": ["a"]}, return_text=True, return_metadata=True)[0]
    assert hit.to_dict() == {"rank": 1, "id": "a", "score": hit.score, "text": "text a",
                             "metadata": {"lang": "en", "year": 2024, "flag": True}}
    bare = index.search_embeddings(q, k=1, filter={"ids": ["f"]}, return_metadata=True)[0].to_dict()
    assert bare == {"rank": 1, "id": "f", "score": bare["score"], "metadata": {}}
    assert Hit("x", 1.5, 2).to_dict() == {"rank": 2, "id": "x", "score": 1.5}
