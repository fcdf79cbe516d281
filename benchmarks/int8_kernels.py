"""Which int8 path could make dtype="int8" pay here: one MiniLM feed-forward product (9600 tokens x 384 -> 1536),
1 thread, best of 5 by process time (robust to other jobs on a shared machine), per kernel:

    torch fp32 / bf16 nn.Linear, torch._int_mm (the GEMM of jcolbert's Int8Linear) and Int8Linear whole (per-token
    activation scales), torch.ao dynamic quantization (fbgemm / onednn / x86 engines; per-tensor activation scale),
    and, when onnxruntime + onnx are importable (not jcolbert dependencies: pip install onnxruntime onnx), ONNX
    Runtime's quantize_dynamic of the same MatMul + Add (per-tensor activations, per-channel weights).

Accuracy is the row cosine to the fp32 product on inputs with one outlier channel (x30), as MiniLM's hidden states
have. Usage: .venv/bin/python benchmarks/int8_kernels.py
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

M, K, N = 9600, 384, 1536


def best_seconds(f, reps: int = 5) -> float:
    f()
    best = float("inf")
    for _ in range(reps):
        t = time.process_time()
        f()
        best = min(best, time.process_time() - t)
    return best


def report(name: str, seconds: float, out: torch.Tensor | None, ref: torch.Tensor) -> None:
    if out is None:
        print(f"{name:42s} {seconds * 1e3:7.1f} ms", flush=True)
        return
    cos = F.cosine_similarity(out.float(), ref, dim=-1)
    print(
        f"{name:42s} {seconds * 1e3:7.1f} ms   row cosine mean {cos.mean():.5f} min {cos.min():.4f}",
        flush=True,
    )


def onnx_runtime(linear: torch.nn.Linear, x: torch.Tensor, ref: torch.Tensor) -> None:
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        print("onnxruntime: skipped (pip install onnxruntime onnx to include it)")
        return
    w = linear.weight.detach().t().contiguous().numpy()
    b = linear.bias.detach().numpy()
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y0"]), helper.make_node("Add", ["y0", "b"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", N])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    folder = Path(tempfile.mkdtemp(prefix="jc-int8-"))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "f.onnx")
    quantize_dynamic(
        str(folder / "f.onnx"), str(folder / "q.onnx"), weight_type=QuantType.QInt8, per_channel=True
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    feed = {"x": x.numpy()}
    for name, path in (("onnxruntime fp32", "f.onnx"), ("onnxruntime int8 (quantize_dynamic)", "q.onnx")):
        session = ort.InferenceSession(str(folder / path), options, providers=["CPUExecutionProvider"])
        seconds = best_seconds(lambda s=session: s.run(None, feed))
        report(name, seconds, torch.from_numpy(session.run(None, feed)[0]), ref)


def main() -> None:
    from jcolbert.model.precision import Int8Linear

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    linear = torch.nn.Linear(K, N)
    x = torch.randn(M, K)
    x[:, 7] *= 30
    with torch.inference_mode():
        ref = linear(x)
        report("torch fp32 linear", best_seconds(lambda: linear(x)), ref, ref)
        bf16, xb = torch.nn.Linear(K, N).to(torch.bfloat16), x.bfloat16()
        bf16.load_state_dict({k: v.bfloat16() for k, v in linear.state_dict().items()})
        report("torch bf16 linear", best_seconds(lambda: bf16(xb)), bf16(xb), ref)
        q = Int8Linear(linear)
        xq = torch.randint(-127, 128, (M, K), dtype=torch.int8)
        report(
            "torch._int_mm alone (no quantisation)",
            best_seconds(lambda: torch._int_mm(xq, q.weight.t())),
            None,
            ref,
        )
        report("jcolbert Int8Linear (per-token)", best_seconds(lambda: q(x)), q(x), ref)
        import torch.ao.quantization as tq

        for engine in ("fbgemm", "onednn", "x86"):
            if engine not in torch.backends.quantized.supported_engines:
                continue
            torch.backends.quantized.engine = engine
            dyn = tq.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8)
            report(f"torch.ao dynamic ({engine}, per-tensor)", best_seconds(lambda d=dyn: d(x)), dyn(x), ref)
    onnx_runtime(linear, x, ref)


if __name__ == "__main__":
    main()
