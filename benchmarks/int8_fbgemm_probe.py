"""A quick int8 probe for CPUs without VNNI / AMX (AVX2 only): one MiniLM feed-forward product (2400 x 384 ->
1536), 1 thread, best of 3 by process time, for fp32, torch.ao's dynamic int8 (fbgemm, one activation scale per
tensor), the same kernel with each row pre-scaled to max 1 (per-token scales folded in), and torch._int_mm (the GEMM
of jcolbert's dtype="int8"). Row cosine to the fp32 product, inputs with one outlier channel (x30) as MiniLM's
hidden states have. A smaller, faster cousin of int8_kernels.py. Usage: .venv/bin/python benchmarks/int8_fbgemm_probe.py
"""

from __future__ import annotations

import time
import warnings

import torch
import torch.ao.quantization as tq
import torch.nn.functional as F

M, K, N = 2400, 384, 1536


def best(f, reps: int = 3) -> float:
    f()
    b = float("inf")
    for _ in range(reps):
        t = time.process_time()
        f()
        b = min(b, time.process_time() - t)
    return b


def report(name: str, seconds: float, out: torch.Tensor | None, ref: torch.Tensor) -> None:
    line = f"{name:45s} {seconds * 1e3:8.1f} ms"
    if out is not None:
        c = F.cosine_similarity(out.float(), ref, dim=-1)
        line += f"  cos mean {c.mean():.5f} min {c.min():.4f}"
    print(line, flush=True)


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lin = torch.nn.Linear(K, N)
    x = torch.randn(M, K)
    x[:, 7] *= 30
    with torch.inference_mode():
        ref = lin(x)
        report("fp32 linear", best(lambda: lin(x)), ref, ref)
        torch.backends.quantized.engine = "fbgemm"
        dyn = tq.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)
        report("ao dynamic fbgemm per-tensor", best(lambda: dyn(x)), dyn(x), ref)
        nobias = torch.nn.Linear(K, N, bias=False)
        nobias.weight.data = lin.weight.data.clone()
        dq = tq.quantize_dynamic(torch.nn.Sequential(nobias), {torch.nn.Linear}, dtype=torch.qint8)

        def rownorm() -> torch.Tensor:  # y = s_row * ((x / s_row) W^T) + b: per-token scales
            s = x.abs().amax(1, keepdim=True).clamp_min(1e-12)
            return torch.addcmul(lin.bias, dq(x / s), s)

        report("fbgemm + per-row normalisation", best(rownorm), rownorm(), ref)
        xq = torch.randint(-127, 128, (M, K), dtype=torch.int8)
        w = torch.randint(-127, 128, (N, K), dtype=torch.int8)
        report("torch._int_mm alone", best(lambda: torch._int_mm(xq, w.t()), reps=1), None, ref)


if __name__ == "__main__":
    main()
