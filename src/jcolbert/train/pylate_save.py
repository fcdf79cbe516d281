"""Saving a model in PyLate's layout (a sentence-transformers folder), the second writer of model.export's record.

    modules.json                        [Transformer at "", pylate.models.Dense.Dense at "1_Dense"]
    config.json, model.safetensors      the backbone (reference key names, float32), as a Hugging Face model
    tokenizer files                     as loaded
    sentence_bert_config.json           {"max_seq_length": document_length - 1, "do_lower_case": false}
    config_sentence_transformers.json   query_prefix / document_prefix (the marker tokens), query_length,
                                        document_length, do_query_expansion, attend_to_expansion_tokens,
                                        skiplist_words, similarity_fn_name "MaxSim"
    1_Dense/config.json, model.safetensors   {"in_features", "out_features", "bias": false, Identity} and
                                        "linear.weight" [dim, hidden]

That is the layout of PyLate's own saves (e.g. answerdotai/answerai-colbert-small-v1 as PyLate writes it);
jcolbert.load_model reads it back (model/checkpoint.py, load_pylate_folder) to the same vectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jcolbert.errors import CheckpointError
from jcolbert.model.export import (
    ExportRecord,
    colbert_metadata,
    copy_tokenizer,
    export_record,
    save_folder,
    write_json,
)

DENSE = "1_Dense"


def write_pylate(record: ExportRecord, folder: Path) -> None:
    from safetensors.torch import save_file

    config = record.config
    colbert_metadata(config)  # the same checks: markers, [MASK] expansion, the standard skiplist
    if config.backbone not in ("bert", "jinabert"):
        raise CheckpointError(f"{config.name_or_path}: no PyLate layout for backbone {config.backbone!r}")
    hf = {k: v for k, v in record.hf_config.items() if k != "_name_or_path"}
    if config.backbone == "bert":
        hf["architectures"] = ["BertModel"]
    hf["torch_dtype"] = "float32"
    save_file(dict(record.backbone_state), str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_json(folder / "config.json", hf)
    copy_tokenizer(record, folder)
    (folder / DENSE).mkdir()
    dim, hidden = record.projection.shape
    save_file({"linear.weight": record.projection}, str(folder / DENSE / "model.safetensors"))
    write_json(folder / DENSE / "config.json", {"in_features": hidden, "out_features": dim, "bias": False,
                                                "activation_function": "torch.nn.modules.linear.Identity"})  # fmt: skip
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": DENSE, "type": "pylate.models.Dense.Dense"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": config.doc_maxlen - 1, "do_lower_case": False})
    write_json(folder / "config_sentence_transformers.json", {
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "MaxSim",
        "query_prefix": config.query_marker, "document_prefix": config.doc_marker,
        "query_length": config.query_maxlen, "document_length": config.doc_maxlen,
        "attend_to_expansion_tokens": config.attend_to_mask_tokens,
        "skiplist_words": list(config.skiplist_words), "do_query_expansion": config.query_augmentation,
    })  # fmt: skip


def save_pylate(model, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """`model` (a TrainableColBERT) as a PyLate folder, atomically (refuses an existing folder unless overwrite)."""
    record = export_record(model)
    return save_folder(folder, lambda tmp: write_pylate(record, tmp), overwrite=overwrite)
