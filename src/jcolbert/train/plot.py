"""The learning curve: training loss and dev NDCG@10 against steps, from train_log.jsonl, as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

from jcolbert.errors import require_extra


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def learning_curve(log_path: str | Path, png: str | Path, title: str | None = None) -> Path:
    matplotlib = require_extra("matplotlib", "train", "the learning-curve plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(Path(log_path))
    steps = [r["step"] for r in rows if "loss" in r]
    losses = [r["loss"] for r in rows if "loss" in r]
    window = max(1, len(losses) // 50)  # a running mean over ~2% of the run, drawn over the raw values
    smooth = [sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
              for i in range(len(losses))]  # fmt: skip
    dev = [(r["step"], r["ndcg@10"]) for r in rows if "ndcg@10" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8)
    ax.plot(steps, smooth, color="tab:blue", label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    if dev:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in dev], [v for _, v in dev], "o-", color="tab:orange", label="dev NDCG@10")
        ax2.set_ylabel("dev NDCG@10", color="tab:orange")
    ax.set_title(title or Path(log_path).parent.name)
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png
