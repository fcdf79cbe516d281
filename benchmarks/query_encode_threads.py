"""One query through encode_queries at N torch threads (argv[1]) in a process that does nothing else: the
baseline for the 2-thread anomaly in BENCHMARKS.md (needs the anchors checkpoint /tmp/jc-anchors/ckpt_minilm).

    .venv/bin/python benchmarks/query_encode_threads.py 2
"""

import sys
import time

import torch

import jcolbert

QUERY = "what is the role of cholesterol in alzheimer disease progression"


def per_call_ms(fn, n: int = 30) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]))
    model = jcolbert.load_model(sys.argv[2] if len(sys.argv) > 2 else "/tmp/jc-anchors/ckpt_minilm")
    per_call_ms(lambda: model.encode_queries([QUERY]), 5)  # warm-up
    print(f"{sys.argv[1]} threads: encode_queries {per_call_ms(lambda: model.encode_queries([QUERY])):.1f} ms")
    batch = model.tokenize_queries([QUERY])
    with torch.inference_mode():
        backbone = per_call_ms(lambda: model.last_hidden_state(batch.input_ids, batch.attention_mask))
    print(f"  backbone {backbone:.1f} ms, tokenizer {per_call_ms(lambda: model.tokenize_queries([QUERY])):.2f} ms")


if __name__ == "__main__":
    main()
