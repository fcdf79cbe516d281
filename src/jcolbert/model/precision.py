"""The precision an encoder runs at: what dtype="auto" picks, and the int8 path.

auto      bfloat16 where the hardware multiplies bf16 natively: CPUs with AMX (amx_bf16) or AVX-512 BF16
          (avx512_bf16) in /proc/cpuinfo's flags, CUDA GPUs that support bf16; float32 everywhere else. Without
          those units torch emulates bf16 and it is slower than fp32, so "auto" never picks it there.
float32   exactly the reference's numbers (parity tests run in it).
bfloat16  / float16: the backbone's weights and activations in that type; the projection and the returned vectors
          stay float32.
int8      every Linear of the backbone as int8 weights (one scale per output channel) times int8 activations
          quantised per token at run time (torch._int_mm, int32 accumulation), the rest (embeddings, LayerNorm,
          attention) in bf16 where supported, else fp32. Per-token activation scales, not one per tensor: MiniLM's
          hidden states have outlier channels, and a per-tensor scale (torch.ao's dynamic quantization, ONNX
          Runtime's DynamicQuantizeLinear) gave mean cosine 0.905 to the fp32 vectors here, per-token 0.998.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import InputError

PRECISIONS = ("float32", "bfloat16", "float16", "int8")
ALIASES = {"fp32": "float32", "float": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo, e.g. macOS)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 matrix products run on native units (see the module docstring)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)
    return False


def resolve(dtype: torch.dtype | str | None, device: torch.device) -> str:
    """One of PRECISIONS from what the caller passed ("auto" / None, a name, or a torch dtype)."""
    if dtype is None or dtype == "auto":
        return "bfloat16" if fast_bf16(device) else "float32"
    if isinstance(dtype, torch.dtype):
        for name, value in TORCH_DTYPES.items():
            if dtype == value:
                return name
    elif isinstance(dtype, str):
        name = ALIASES.get(dtype.lower(), dtype.lower())
        if name in PRECISIONS:
            return name
    raise InputError(
        f"dtype must be 'auto', 'int8', torch.float32, torch.bfloat16 or torch.float16 (or their names), got {dtype!r}"
    )


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The torch dtype of the backbone's activations for a precision."""
    if precision == "int8":
        return torch.bfloat16 if fast_bf16(device) else torch.float32
    return TORCH_DTYPES[precision]


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored int8 (scale per output channel) and x quantised per row at run time."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(1).clamp_min(1e-12) / 127
        self.out_features = w.shape[0]
        self.register_buffer("weight", torch.round(w / scale[:, None]).to(torch.int8))  # [out, in]
        self.register_buffer("scale", scale)
        # y = (acc * sx + b / scale) * scale: the bias is pre-divided so the dequantisation is two passes.
        bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros_like(scale)
        self.register_buffer("bias_over_scale", bias / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        sx = torch.linalg.vector_norm(rows, ord=float("inf"), dim=1, keepdim=True, dtype=torch.float32)
        sx = sx.clamp_min_(1e-12).div_(127)
        xq = torch.div(rows, sx).round_().to(torch.int8)
        if xq.shape[0] <= 16:  # torch._int_mm needs more than 16 rows
            xq = F.pad(xq, (0, 0, 0, 17 - xq.shape[0]))
        acc = torch._int_mm(xq, self.weight.t())[: rows.shape[0]]
        out = torch.addcmul(self.bias_over_scale, acc, sx).mul_(self.scale)
        return out.to(x.dtype).view(*x.shape[:-1], self.out_features)


def quantize_linears(module: nn.Module) -> nn.Module:
    """Replace every nn.Linear inside `module` by an Int8Linear (in place); returns the module."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            quantize_linears(child)
    return module


def cast_floating(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Cast the floating parameters of every module except Int8Linear's (whose scales stay float32)."""
    for sub in module.modules():
        if isinstance(sub, Int8Linear):
            continue
        for name, param in sub.named_parameters(recurse=False):
            if param.is_floating_point():
                setattr(sub, name, nn.Parameter(param.detach().to(dtype), requires_grad=False))
    return module
