"""Training checkpoints: the model in colbert-ai's layout plus what `--resume` needs to continue exactly.

    OUT/checkpoints/step-00000100/
        model.safetensors, config.json, artifact.metadata, tokenizer files   (loads with jcolbert.load_model)
        optimizer.safetensors   AdamW's per-parameter tensors, keyed "<param index>.<name>"
        rng.safetensors         torch's CPU (and CUDA) generator states: dropout continues as if never stopped
        trainer_state.json      step, optimizer param_groups, the settings the run must keep (resume_key)

No pickles: tensors in safetensors, the rest JSON. The data position is not stored: it follows from the step
(jcolbert.train.batches). A checkpoint folder is written whole or not at all (model.export.save_folder): a
failure, a full disk included, leaves the previous checkpoints as they were; older ones are removed only after
a new one is complete.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from jcolbert.errors import TrainingStateError
from jcolbert.model.export import export_record, save_folder, write_colbert

STEP_DIR = re.compile(r"^step-(\d{8})$")
STATE_FILE = "trainer_state.json"


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:08d}"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (with trainer_state.json), oldest first."""
    folder = out / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = STEP_DIR.match(p.name)
        if m and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def rng_tensors() -> dict[str, torch.Tensor]:
    out = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"cuda{i}"] = s
    return out


def save_checkpoint(folder: Path, model, optimizer, step: int, resume_key: dict[str, Any], *,
                    overwrite: bool = False) -> Path:  # fmt: skip
    """One checkpoint folder (module docstring), atomically."""
    from safetensors.torch import save_file

    record = export_record(model)
    opt, groups = optimizer_tensors(optimizer)
    rng = rng_tensors()
    state = {"step": step, "param_groups": groups, "resume_key": resume_key, "format": 1}

    def write(tmp: Path) -> None:
        write_colbert(record, tmp)
        save_file(opt, str(tmp / "optimizer.safetensors"))
        save_file(rng, str(tmp / "rng.safetensors"))
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")

    return save_folder(folder, write, overwrite=overwrite)


def prune(out: Path, keep: int) -> None:
    for _, path in list_checkpoints(out)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def read_state(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingStateError(f"{folder / STATE_FILE}: unreadable ({exc})") from None


def check_resume_key(folder: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in diff)
        raise TrainingStateError(f"{folder}: cannot resume with different settings ({detail})")


def load_optimizer(folder: Path, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "optimizer.safetensors"))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        per_param.setdefault(int(idx), {})[name] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in state["param_groups"]]
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})


def load_rng(folder: Path) -> None:
    from safetensors.torch import load_file

    rng = load_file(str(folder / "rng.safetensors"))
    torch.set_rng_state(rng["cpu"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
