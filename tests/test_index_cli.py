"""The CLI on top of the index library: `jcolbert search --json` serialises hits with Hit.to_dict (metadata
included when the documents have it), and `--filter` goes through the library's parser."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import jcolbert
from jcolbert.cli.main import app
from jcolbert.index import Index

runner = CliRunner()


def test_search_json_carries_metadata_and_filters(tmp_path, tiny_jina_dir) -> None:
    model = jcolbert.load_model(str(tiny_jina_dir))
    index = Index.create(tmp_path / "idx", model=model)
    index.add([{"id": "a", "text": "late interaction retrieval", "metadata": {"lang": "en", "clé": "été"}},
               {"id": "b", "text": "late interaction ranking", "metadata": {"lang": "fr", "year": 2024}},
               {"id": "c", "text": "interaction tardive"}])
    result = runner.invoke(app, ["search", str(index.path), "late interaction", "--json", "-q"])
    assert result.exit_code == 0, result.output
    hits = {h["id"]: h for h in json.loads(result.stdout)["hits"]}
    assert hits["a"]["metadata"] == {"lang": "en", "clé": "été"} and hits["b"]["metadata"]["year"] == 2024
    assert hits["c"]["metadata"] == {} and hits["a"]["text"] == "late interaction retrieval"
    for flt, expected in ((["--filter", "clé=été"], ["a"]), (["--filter", "year=2024"], ["b"]),
                          (["--filter", "id=a,c", "--filter", "lang=en"], ["a"])):
        result = runner.invoke(app, ["search", str(index.path), "late interaction", "--json", "-q", *flt])
        assert result.exit_code == 0, result.output
        assert [h["id"] for h in json.loads(result.stdout)["hits"]] == expected
    bad = runner.invoke(app, ["search", str(index.path), "late", "--filter", "nokey"])
    assert bad.exit_code == 1 and "expected KEY=VALUE" in bad.output
