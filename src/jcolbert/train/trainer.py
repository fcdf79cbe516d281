"""The training loop: ColBERTv2's recipe on a TrainableColBERT, on CPU or GPU, one process or DDP.

    from jcolbert.train import TrainConfig, DataSpec, train
    result = train(TrainConfig(base="minilm", dim=128, out="out/run", data=DataSpec("data/scifact"), steps=500))

Per step: `grad_accum` micro-batches per process (jcolbert.train.batches), forward under bf16 autocast where the
device multiplies bf16 natively (precision "auto"; model/precision.py), the loss of jcolbert.train.losses,
backward (DDP averages gradients over processes), gradient clipping, AdamW with linear warm-up then linear decay
to 0. Rank 0 appends a JSON object per step to OUT/train_log.jsonl (step, loss, lr, grad_norm, examples_per_s,
...), evaluates on the dev set every `eval_every` steps, writes a resumable checkpoint every `save_every` steps
(jcolbert.train.state) and at the end the model in colbert-ai's layout (OUT/checkpoint) and PyLate's
(OUT/pylate), plus OUT/learning_curve.png. `resume=True` continues from the last checkpoint with the same data
order, optimizer state and RNG state: the same parameters as a run that was never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jcolbert.errors import TrainingDataError, TrainingStateError
from jcolbert.train import state as ckpt
from jcolbert.train.batches import collate, positions, read_examples
from jcolbert.train.config import TrainConfig
from jcolbert.train.data import hash_seed, open_examples, read_beir
from jcolbert.train.distributed import Context, no_sync, wrap
from jcolbert.train.losses import training_loss

CONFIG_FILE = "train_config.json"
LOG_FILE = "train_log.jsonl"
OnStep = Callable[[int, list[str]], None]  # (step just done, the examples this process read: file:line)


@dataclass
class TrainResult:
    out: Path
    steps: int
    checkpoint: Path | None  # OUT/checkpoint (colbert-ai layout), rank 0
    pylate: Path | None
    last: dict[str, Any]  # the last log row
    examples_per_s: float  # mean over the steps of this process's run
    model: Any = None  # the trained TrainableColBERT (in eval mode), in memory


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up over `warmup` steps to lr, then linear decay to 0 at `schedule_end` (`steps` unless
    schedule_steps is set; step counts from 0)."""
    warm, end = config.warmup, config.schedule_end
    if warm and step < warm:
        return config.lr * (step + 1) / warm
    return config.lr * max(0.0, (end - step) / max(1, end - warm))


def prepare_out(config: TrainConfig) -> int | None:
    """Check/create OUT; the step of the checkpoint to resume from (None: start fresh)."""
    out = config.out
    found = ckpt.list_checkpoints(out)
    if config.resume:
        return found[-1][0] if found else None
    if out.exists() and any(out.iterdir()):
        if not config.overwrite:
            raise TrainingStateError(f"{out}: already exists; pass --overwrite to replace it or --resume to continue")
        if not (out / CONFIG_FILE).is_file():
            raise TrainingStateError(f"{out}: not a jcolbert training folder (no {CONFIG_FILE}); refusing to delete it")
        shutil.rmtree(out)
    return None


def autocast(config: TrainConfig, device: torch.device):
    from jcolbert.model.precision import fast_bf16

    use = config.precision == "bf16" or (config.precision == "auto" and fast_bf16(device))
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use else contextlib.nullcontext


def mined_negatives(config: TrainConfig, ctx: Context, say: Callable[[str], None]) -> TrainConfig:
    """A BEIR folder without --negatives: BM25 negatives mined once into OUT/negatives.jsonl (rank 0)."""
    data = config.data
    if not Path(data.path).is_dir() or data.negatives is not None:
        return config
    path = config.out / "negatives.jsonl"
    if ctx.is_main and not path.is_file():
        from jcolbert.train.mining import mine

        report = mine(read_beir(data.path, data.split), path, depth=100, say=say)
        say(f"mined BM25 negatives: {report}")
    ctx.barrier()
    return dataclasses.replace(config, data=dataclasses.replace(data, negatives=str(path)))


class Trainer:
    def __init__(self, config: TrainConfig, *, on_step: OnStep | None = None,
                 say: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.config = config
        self.on_step = on_step
        self.say = say or (lambda message: None)

    def run(self) -> TrainResult:
        from jcolbert.model.trainable import TrainableColBERT

        config = self.config
        ctx = Context.from_env(config.device)
        if not ctx.initialised and config.device is None and torch.cuda.is_available():
            ctx.device = torch.device("cuda")
        try:
            resume_step = prepare_out(config) if ctx.is_main else None
            ctx.barrier()
            if not ctx.is_main and config.resume:
                found = ckpt.list_checkpoints(config.out)
                resume_step = found[-1][0] if found else None
            config.out.mkdir(parents=True, exist_ok=True)
            config = mined_negatives(config, ctx, self.say)
            if ctx.is_main:
                (config.out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=1) + "\n", encoding="utf-8")
            examples = open_examples(config.data, config.nway, config.seed)
            kind = config.loss if config.loss != "auto" else ("kl" if examples.has_scores else "ce")
            if kind == "kl" and not examples.has_scores:
                raise TrainingDataError(f"{config.data.path}: loss 'kl' needs teacher scores ([pid, score] pairs)")
            start = 0
            torch.manual_seed(hash_seed(config.seed, ctx.rank, 0))
            if resume_step is not None:
                folder = ckpt.checkpoint_dir(config.out, resume_step)
                saved = ckpt.read_state(folder)
                ckpt.check_resume_key(folder, saved["resume_key"], config.resume_key())
                model = TrainableColBERT.from_pretrained(folder)
                start = int(saved["step"])
                self.say(f"resuming from {folder} (step {start})")
            else:
                model = TrainableColBERT.from_pretrained(config.base, dim=config.dim, seed=config.head_seed,
                                                       **config.model_overrides)
            if config.dropout is not None:
                model.set_dropout(config.dropout)
            model = model.to(ctx.device).train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, eps=1e-8)
            if resume_step is not None:
                ckpt.load_optimizer(folder, optimizer, saved)
                if ctx.is_main:
                    ckpt.load_rng(folder)
                else:
                    torch.manual_seed(hash_seed(config.seed, ctx.rank, start))
            return self.loop(model, optimizer, examples, kind, start, ctx)
        finally:
            ctx.close()

    def loop(self, model, optimizer, examples, kind: str, start: int, ctx: Context) -> TrainResult:
        config = self.config
        scorer = wrap(model, ctx)
        micro = config.micro_batch(ctx.world_size)
        cast = autocast(config, ctx.device)
        dev = None
        if ctx.is_main and config.dev is not None and config.eval_every:
            from jcolbert.train.evaluation import DevSet

            dev = DevSet(config.dev)
        log = LogFile(config.out / LOG_FILE, start) if ctx.is_main else None
        bar = None
        if ctx.is_main and config.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=config.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
        cache: dict = {}
        rates: list[float] = []
        row: dict[str, Any] = {}
        t_run = time.perf_counter()
        for step in range(start, config.steps):
            t0 = time.perf_counter()
            for g in optimizer.param_groups:
                g["lr"] = lr_at(step, config)
            total, read = 0.0, []
            for m in range(config.grad_accum):
                where = positions(step, m, ctx.rank, config.batch_size, config.grad_accum, micro)
                batch = collate(model, read_examples(examples, where, config.seed, cache), config.nway, config.doc_maxlen)
                read += [ex.where for ex in batch.examples]
                with no_sync(scorer, m < config.grad_accum - 1), cast():
                    Q, D, d_mask = scorer(batch.queries, batch.documents)
                    loss, _ = training_loss(Q, D, d_mask, config.nway, batch.teacher, kind=kind,
                                            alpha=config.distillation_alpha, in_batch=config.in_batch_negatives)  # fmt: skip
                    if not torch.isfinite(loss):
                        raise TrainingDataError(f"step {step + 1}: the loss is {loss.item()} (examples {read[:3]} ...)")
                    (loss / config.grad_accum).backward()
                total += loss.item() / config.grad_accum
            norm = None
            if config.max_grad_norm is not None:
                norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total = ctx.mean(total)
            seconds = time.perf_counter() - t0
            rates.append(config.batch_size / seconds)
            done = step + 1
            row = {"step": done, "loss": total, "lr": lr_at(step, config), "grad_norm": norm,
                   "examples_per_s": rates[-1], "step_s": seconds,
                   "elapsed_s": time.perf_counter() - t_run, "epoch": (done * config.batch_size) / len(examples)}  # fmt: skip
            if dev is not None and (done % config.eval_every == 0 or done == config.steps):
                row.update(dev.evaluate(model))
            if self.on_step is not None:
                self.on_step(done, read)
            if ctx.is_main:
                log.write(row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total:.4f}", ex_s=f"{row['examples_per_s']:.1f}",
                                    **({"ndcg10": f"{row['ndcg@10']:.4f}"} if "ndcg@10" in row else {}))  # fmt: skip
                if config.save_every and done % config.save_every == 0 and done < config.steps:
                    ckpt.save_checkpoint(ckpt.checkpoint_dir(config.out, done), model, optimizer, done,
                                         config.resume_key(), overwrite=True)  # fmt: skip
                    ckpt.prune(config.out, config.keep_checkpoints)
            ctx.barrier()
        if bar is not None:
            bar.close()
        return self.finish(model, ctx, row, rates)

    def finish(self, model, ctx: Context, row: dict[str, Any], rates: list[float]) -> TrainResult:
        config = self.config
        checkpoint = pylate = None
        if ctx.is_main:
            model.eval()
            checkpoint = model.save_pretrained(config.out / "checkpoint", overwrite=True)
            if config.save_pylate:
                from jcolbert.train.pylate_save import save_pylate

                pylate = save_pylate(model, config.out / "pylate", overwrite=True)
            if config.plot and (config.out / LOG_FILE).is_file():
                try:  # a missing matplotlib must not lose the trained model, but it is said
                    from jcolbert.train.plot import learning_curve

                    learning_curve(config.out / LOG_FILE, config.out / "learning_curve.png")
                except Exception as exc:
                    self.say(f"learning curve not drawn: {type(exc).__name__}: {exc}")
        ctx.barrier()
        model.eval()
        mean_rate = sum(rates) / len(rates) if rates else 0.0
        return TrainResult(config.out, config.steps, checkpoint, pylate, row, mean_rate, model)


class LogFile:
    """OUT/train_log.jsonl, one JSON object per step; a resumed run first drops rows after its checkpoint."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        rows = []
        if start and path.is_file():
            rows = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= start]  # fmt: skip
        path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def train(config: TrainConfig, *, on_step: OnStep | None = None, say: Callable[[str], None] | None = None) -> TrainResult:
    return Trainer(config, on_step=on_step, say=say).run()
