"""Precision: what dtype="auto" picks, the recorded dtype, int8, and the windowed ALiBi attention for long inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import jcolbert
from jcolbert.errors import InputError
from jcolbert.model import attention, precision
from jcolbert.model.config import ModelConfig

TEXTS = ["ColBERT is an efficient and effective passage retrieval model.", "Hello, world!!! (Really?)"]


# -- dtype="auto" --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
        ({"avx512f", "amx_tile", "amx_bf16", "amx_int8"}, "bfloat16"),
        ({"avx2", "avx512f", "avx512_vnni"}, "float32"),  # AVX-512 without BF16: bf16 would be emulated
        (set(), "float32"),
    ],
)
def test_auto_follows_the_cpu_flags(flags: set[str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.resolve("auto", torch.device("cpu")) == expected
    assert precision.resolve(None, torch.device("cpu")) == expected
    assert precision.resolve(torch.float32, torch.device("cpu")) == "float32"  # explicit always wins


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(str(info)) == {"fpu", "sse2", "avx512f", "avx512_bf16"}
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_names_and_refusals() -> None:
    cpu = torch.device("cpu")
    assert [precision.resolve(x, cpu) for x in ("bf16", "fp32", "FLOAT16", "int8")] == [
        "bfloat16",
        "float32",
        "float16",
        "int8",
    ]
    for bad in (torch.int8, "float64", torch.float64, 3):
        with pytest.raises(InputError, match="dtype must be 'auto'"):
            precision.resolve(bad, cpu)


def test_default_is_auto_and_recorded(tiny_jina_dir: Path) -> None:
    model = jcolbert.load_model(tiny_jina_dir)
    expected = precision.resolve("auto", model.device)
    assert model.precision == model.config.dtype == expected
    assert model.config.to_dict()["dtype"] == expected
    fp32 = jcolbert.load_model(tiny_jina_dir, dtype=torch.float32)
    assert fp32.config.dtype == "float32" and fp32.dtype == torch.float32
    Q, D = model.encode_queries(TEXTS), model.encode_documents(TEXTS)
    assert Q.dtype == torch.float32 and Q.device.type == "cpu" and all(d.dtype == torch.float32 for d in D)


def test_dtype_is_not_a_compatibility_field(tiny_bert_dir: Path) -> None:
    """An index records its documents' precision; queries may be encoded at any other one."""
    fp32 = jcolbert.load_model(tiny_bert_dir, dtype=torch.float32)
    bf16 = jcolbert.load_model(tiny_bert_dir, dtype=torch.bfloat16)
    assert "dtype" not in fp32.config.compatibility_key()
    assert fp32.config.incompatibilities(bf16.config.to_dict()) == []
    stored = bf16.config.to_dict()
    again = jcolbert.load_model(stored, dtype=torch.float32)  # reloading uses the caller's precision
    assert again.config.dtype == "float32"
    old = {k: v for k, v in stored.items() if k != "dtype"}  # an index written before the field existed
    assert ModelConfig.from_dict(old).dtype == "float32"
    with pytest.raises(InputError, match="ModelConfig.dtype"):
        ModelConfig.from_dict({**stored, "dtype": "float8"})


def scifact_texts(data_dir: Path, n: int) -> list[str]:
    texts = []
    with open(data_dir / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line, _ in zip(f, range(n), strict=False):
            doc = json.loads(line)
            texts.append(f"{doc['title']} {doc['text']}")
    return texts


def mean_cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return torch.cat([F.cosine_similarity(x, y, dim=-1) for x, y in zip(a, b, strict=True)]).mean().item()


# -- int8 ------------------------------------------------------------------------------------------------------
def test_int8_linear_is_close_to_the_float_product() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(96, 40)
    layer = precision.Int8Linear(linear)
    assert layer.weight.dtype == torch.int8 and layer.weight.shape == (40, 96)
    for rows in (1, 16, 17, 300):  # torch._int_mm needs > 16 rows: fewer are padded
        x = torch.randn(2, rows, 96)
        with torch.inference_mode():
            exact, quantised = linear(x), layer(x)
        assert quantised.shape == exact.shape
        assert F.cosine_similarity(quantised.flatten(0, 1), exact.flatten(0, 1), dim=-1).min().item() > 0.999


def test_int8_model(minilm_available: bool, data_dir: Path, tiny_jina_dir: Path) -> None:
    texts = scifact_texts(data_dir, 6)
    fp32 = jcolbert.load_model("minilm", dtype=torch.float32, doc_maxlen=256).encode_documents(texts)
    int8 = jcolbert.load_model("minilm", dtype="int8", doc_maxlen=256)
    assert int8.config.dtype == "int8"
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.backbone.modules())
    assert mean_cosine(fp32, int8.encode_documents(texts)) >= 0.995  # measured 0.998 on 32 SciFact documents
    jina = jcolbert.load_model(tiny_jina_dir, dtype="int8")
    Q = jina.encode_queries(TEXTS[:1])  # one query: a 32-row product, padded for torch._int_mm
    assert Q.shape == (1, 32, 128) and torch.isfinite(Q).all()


def test_bf16_vectors_agree_with_fp32(minilm_available: bool, data_dir: Path) -> None:
    texts = scifact_texts(data_dir, 8)
    fp32 = jcolbert.load_model("minilm", dtype=torch.float32).encode_documents(texts)
    bf16 = jcolbert.load_model("minilm", dtype=torch.bfloat16).encode_documents(texts)
    assert mean_cosine(fp32, bf16) >= 0.999


# -- windowed ALiBi attention (long inputs) ---------------------------------------------------------------------
def reference_attention(q, k, v, slopes, mask) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) - slope |i - j| + key mask) v in float64 with the bias built in full."""
    L = q.shape[2]
    pos = torch.arange(L, dtype=torch.float64)
    bias = -slopes.double()[:, None, None] * (pos[:, None] - pos[None, :]).abs()
    bias = bias[None] + torch.where(mask.bool(), 0.0, float("-inf")).double()[:, None, None, :]
    scores = q.double() @ k.double().transpose(-1, -2) / q.shape[-1] ** 0.5 + bias
    return torch.softmax(scores, -1) @ v.double()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_windowed_attention_equals_full_attention(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    B, H, L, d = 2, 12, 1800, 16
    q, k, v = (torch.randn(B, H, L, d) for _ in range(3))
    slopes = torch.tensor(attention.alibi_slopes(H))
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, 1500:] = 0  # a second group of rows with fewer keys
    windows = attention.head_windows(q[:1], k[:1], slopes.tolist(), L)
    assert any(w is None for w in windows) and any(w is not None for w in windows)  # both paths exercised
    ref = reference_attention(q, k, v, slopes, mask)
    with torch.inference_mode():
        bias = attention.AlibiBias(slopes, mask, dtype)
        ours = attention.alibi_attention(q.to(dtype), k.to(dtype), v.to(dtype), bias).double()
        full = torch.empty_like(q, dtype=dtype)
        for n, rows in bias.groups:  # torch's kernel over every key: the error to match in this dtype
            kr, vr = k.to(dtype)[rows, :, :n].flip(2), v.to(dtype)[rows, :, :n].flip(2)
            full[rows] = F.scaled_dot_product_attention(
                q.to(dtype)[rows], kr, vr, attn_mask=bias.reversed_keys_view(n)
            )
    assert torch.isfinite(ours).all()  # padded query rows too
    real = mask.bool()[:, None, :, None].expand_as(ref)
    ours_err = (ours - ref).abs()[real].max().item()
    full_err = (full.double() - ref).abs()[real].max().item()
    assert ours_err <= (2e-6 if dtype == torch.float32 else 1.05 * full_err), (ours_err, full_err)


def test_windows_cover_every_key_that_matters() -> None:
    """The bound is rigorous: scaling q and k up widens the windows; a head with a small slope keeps every key."""
    torch.manual_seed(1)
    q, k = torch.randn(1, 4, 4096, 16), torch.randn(1, 4, 4096, 16)
    slopes = [0.5, 0.25, 0.0625, 2**-8]
    small = attention.head_windows(q, k, slopes, 4096)
    large = attention.head_windows(q * 3, k * 3, slopes, 4096)
    assert small[0] is not None and large[0] is not None and large[0] > small[0]
    assert small[3] is None
    assert small[0] >= attention.MARGIN / slopes[0]


def test_readme_performance_block_runs(minilm_available: bool, capsys: pytest.CaptureFixture) -> None:
    """README.md's "Performance" section: its Python block runs verbatim and prints what it says."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Performance\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    assert section, "README has no Performance section"
    (code,) = re.findall(r"^```python\n(.*?)^```", section.group(1), flags=re.S | re.M)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "float32"
