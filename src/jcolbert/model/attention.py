"""ALiBi attention for JinaBERT without a [heads, L, L] bias tensor.

The reference builds a [heads, L, L] fp32 bias (3.2 GB at L = 8192). We never do: the bias is a strided view of a
[heads, 2L - 1] table (see AlibiBias), read in place by torch's fused SDPA kernel, which itself works in tiles;
an 8192-token document needs tens of MB for attention, not GB. The same code runs under autograd (training):
every step is differentiable in q, k and v, and `dropout_p` drops attention probabilities as the reference's
attention dropout does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def alibi_slopes(n_heads: int) -> list[float]:
    """Per-head ALiBi slopes (Press et al.), for any head count.

    Power of two n: start = 2^(-8/n), slopes start^1 .. start^n. Otherwise take the slopes of the largest
    power of two P < n, then every other slope of 2P (indices 0, 2, 4, ...) until n heads are covered.
    """

    def power_of_two(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_two(n_heads)
    p = 2 ** math.floor(math.log2(n_heads))
    return power_of_two(p) + alibi_slopes(2 * p)[0::2][: n_heads - p]


class AlibiBias:
    """The additive attention bias of one forward pass, shared by all layers, never materialised as [H, L, L].

    bias[h, i, j] = -slope_h * |i - j| depends only on i - j, so every row is a slice of one small table
    T[h, t] = -slope_h * |t - (L - 1)|, t in [0, 2L - 1). With the keys in REVERSED order (j' = n - 1 - j) the
    bias of query i and key j' sits at T[h, i + j' + L - n]: both indices advance with stride 1, so the whole
    [H, L, n] bias is an `as_strided` view of T that SDPA reads in place. Reversing keys and values together
    changes nothing mathematically (attention sums over keys in any order).

    Padding: rows are grouped by their number of real keys n (right padding, the only kind ColBERT produces),
    and each group attends to its first n keys only, which is the key-side mask. A row whose mask is not of the
    form 1..1 0..0 gets an explicit bias built from its key positions, in blocks of query rows.
    """

    def __init__(self, slopes: torch.Tensor, attention_mask: torch.Tensor, dtype: torch.dtype) -> None:
        batch, self.length = attention_mask.shape
        L = self.length
        self.slopes = slopes.to(attention_mask.device, torch.float32)
        offsets = torch.arange(2 * L - 1, device=attention_mask.device, dtype=torch.float32) - (L - 1)
        self.table = (-self.slopes[:, None] * offsets.abs()[None, :]).to(dtype).contiguous()
        self.materialise = attention_mask.device.type != "cpu"  # see reversed_keys_view
        self.dtype = dtype
        mask = attention_mask.bool()
        n_keys = mask.sum(1)
        prefix = mask == (torch.arange(L, device=mask.device)[None, :] < n_keys[:, None])
        self.groups: list[tuple[int, torch.Tensor | slice]] = []  # (n_keys, rows) for right-padded rows
        self.irregular: list[tuple[int, torch.Tensor]] = []  # (row, key positions) for any other mask
        rows_ok = prefix.all(1)
        for n in torch.unique(n_keys[rows_ok]).tolist():
            rows = torch.nonzero(rows_ok & (n_keys == n)).flatten()
            self.groups.append((int(n), slice(None) if len(rows) == batch else rows))
        for row in torch.nonzero(~rows_ok).flatten().tolist():
            self.irregular.append((row, torch.nonzero(mask[row]).flatten()))

    def reversed_keys_view(self, n_keys: int) -> torch.Tensor:
        """[1, H, L, n_keys] bias for all query rows against the first n_keys keys taken in reverse order."""
        H, L = self.table.shape[0], self.length
        view = self.table.as_strided((1, H, L, n_keys), (0, 2 * L - 1, 1, 1), storage_offset=L - n_keys)
        # torch's CPU flash kernel reads this overlapping view in place (verified: no [H, L, L] copy). GPU kernels
        # were not verified here (no GPU on the development machine), so they get a plain contiguous mask.
        return view.contiguous() if self.materialise else view

    def heads_view(self, first: int, last: int, n_keys: int) -> torch.Tensor:
        """reversed_keys_view for heads first..last-1 only."""
        L = self.length
        view = self.table.as_strided(
            (1, last - first, L, n_keys),
            (0, 2 * L - 1, 1, 1),
            storage_offset=first * (2 * L - 1) + L - n_keys,
        )
        return view.contiguous() if self.materialise else view

    def explicit_block(self, start: int, end: int, key_pos: torch.Tensor) -> torch.Tensor:
        """[1, H, end - start, len(key_pos)] bias for query rows start..end-1 against keys at key_pos."""
        rows = torch.arange(start, end, device=key_pos.device, dtype=torch.float32)
        dist = (rows[:, None] - key_pos[None, :].to(torch.float32)).abs()
        return (-self.slopes[None, :, None, None] * dist).to(self.dtype)


# Windowed attention (long inputs): with ALiBi, a key far from query i gets a bias -slope * |i - j| so negative
# that its softmax weight vanishes. By Cauchy-Schwarz, for a real key j and query i < n:
#     logit_ij - logit_ii <= scale * (|q_i| * max_j |k_j| - q_i . k_i) - slope * |i - j| =: R_i - slope * |i - j|,
# so every key with slope * |i - j| > R + MARGIN (R = max_i R_i) weighs less than e^-MARGIN times the diagonal
# key's weight, which is part of the softmax's denominator: all skipped keys together move a row's output by less
# than n * e^-MARGIN * 2 max|v| (8192 * e^-40 = 3.5e-14 relative), far below float32's resolution. A head whose
# window covers most keys (small slopes) runs as before; the others attend, block of queries by block, only to
# the keys within their window. Rows past the real keys (padding) get the nearest keys: their output is
# unspecified, as for the reference, but finite.
WINDOW_MIN_KEYS = 1024  # below this, windows save too little to pay for the extra kernel calls
WINDOW_BLOCK = 256  # query rows per kernel call
MARGIN = 40.0


@torch.no_grad()
def head_windows(q: torch.Tensor, k: torch.Tensor, slopes: list[float], n: int) -> list[int | None]:
    """Per head, how many keys on each side of a query can matter (None: all of them); q [B, H, L, d], k its n real
    keys [B, H, n, d] in order."""
    d = q.shape[-1]
    real_q, k = q[:, :, :n].float(), k[:, :, :n].float()
    diag = (real_q * k).sum(-1)  # q_i . k_i
    k_max = torch.linalg.vector_norm(k, dim=-1).amax(dim=(0, 2))  # [H]
    bound = (torch.linalg.vector_norm(real_q, dim=-1) * k_max[None, :, None] - diag).amax(
        dim=(0, 2)
    ) * d**-0.5
    windows: list[int | None] = []
    for h, slope in enumerate(slopes):
        w = math.ceil((max(float(bound[h]), 0.0) + MARGIN) / slope)
        windows.append(w if 2 * w + WINDOW_BLOCK <= n // 2 else None)
    return windows


def runs(heads: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted head indices as (first, last + 1): [3, 4, 5, 9] -> [(3, 6), (9, 10)]."""
    out: list[tuple[int, int]] = []
    for h in heads:
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + 1)
        else:
            out.append((h, h + 1))
    return out


def distance_bias(slope: float, rows: torch.Tensor, keys: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """-slope * |row - key| for query positions `rows` against key positions `keys` ([len(rows), len(keys)])."""
    return (-slope * (rows[:, None] - keys[None, :]).abs().to(torch.float32)).to(dtype)


def window_head(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor, slope: float, w: int, n: int
) -> None:
    """One head's windowed attention: q, out [B, L, d]; k, v its n real keys [B, n, d] in order.

    Blocks of WINDOW_BLOCK queries whose window [s - w, s + block + w) lies inside the real keys all see the same
    bias (it depends on i - j only), so they run as ONE batched call over overlapping strided views of k and v;
    the few blocks at either end (window clipped, or rows past the real keys) run one by one.
    """
    B, L, d = q.shape
    bq, device = WINDOW_BLOCK, q.device
    first = -(-w // bq) * bq  # interior blocks start at a multiple of bq in [first, last]: window inside [0, n)
    last = (n - w - bq) // bq * bq
    count = (last - first) // bq + 1 if last >= first else 0
    if count > 0:
        width = bq + 2 * w

        def windows(t: torch.Tensor) -> torch.Tensor:
            s0, s1, s2 = t.stride()
            offset = t.storage_offset() + (first - w) * s1
            return t.as_strided((B, count, width, d), (s0, bq * s1, s1, s2), offset)

        ar = torch.arange(width, device=device)
        mask = distance_bias(slope, ar[:bq] + w, ar, q.dtype)
        span = slice(first, first + count * bq)
        blocks = q[:, span].unflatten(1, (count, bq))
        out[:, span] = F.scaled_dot_product_attention(blocks, windows(k), windows(v), attn_mask=mask).flatten(
            1, 2
        )
    for start in range(0, L, bq):
        if count > 0 and first <= start < first + count * bq:
            continue
        end = min(start + bq, L)
        lo, hi = max(0, min(start, n - 1) - w), min(n, end + w)
        rows, keys = torch.arange(start, end, device=device), torch.arange(lo, hi, device=device)
        out[:, start:end] = F.scaled_dot_product_attention(
            q[:, start:end], k[:, lo:hi], v[:, lo:hi], attn_mask=distance_bias(slope, rows, keys, q.dtype)
        )


def windowed_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: AlibiBias, n: int
) -> torch.Tensor:
    """alibi_attention for one group of rows with n real keys (k, v [B, H, n, d] in order)."""
    slopes = bias.slopes.tolist()
    windows = head_windows(q, k, slopes, n)
    out = torch.empty_like(q)
    for first, last in runs([h for h, w in enumerate(windows) if w is None]):  # heads needing every key
        out[:, first:last] = F.scaled_dot_product_attention(
            q[:, first:last],
            k[:, first:last].flip(2),
            v[:, first:last].flip(2),
            attn_mask=bias.heads_view(first, last, n),
        )
    for h, w in enumerate(windows):
        if w is not None:
            window_head(q[:, h], k[:, h], v[:, h], out[:, h], slopes[h], w, n)
    return out


def alibi_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: AlibiBias,
    block_elements: int = 1 << 24,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + ALiBi + key padding) v for q, k, v [B, H, L, d]; dropout_p > 0 only in training."""
    if dropout_p == 0.0 and any(n >= WINDOW_MIN_KEYS for n, _ in bias.groups):
        out = torch.empty_like(q)
        for n, rows in bias.groups:
            qr, kr, vr = q[rows], k[rows, :, :n], v[rows, :, :n]
            if n >= WINDOW_MIN_KEYS:
                out[rows] = windowed_attention(qr, kr, vr, bias, n)
            else:
                out[rows] = F.scaled_dot_product_attention(
                    qr, kr.flip(2), vr.flip(2), attn_mask=bias.reversed_keys_view(n)
                )
        irregular(out, q, k, v, bias, block_elements, dropout_p)
        return out
    if len(bias.groups) == 1 and not bias.irregular:
        n, _ = bias.groups[0]
        return F.scaled_dot_product_attention(
            q,
            k[:, :, :n].flip(2),
            v[:, :, :n].flip(2),
            attn_mask=bias.reversed_keys_view(n),
            dropout_p=dropout_p,
        )
    out = torch.empty_like(q)
    for n, rows in bias.groups:
        out[rows] = F.scaled_dot_product_attention(
            q[rows],
            k[rows, :, :n].flip(2),
            v[rows, :, :n].flip(2),
            attn_mask=bias.reversed_keys_view(n),
            dropout_p=dropout_p,
        )
    irregular(out, q, k, v, bias, block_elements, dropout_p)
    return out


def irregular(
    out: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: AlibiBias,
    block_elements: int,
    dropout_p: float,
) -> None:
    """Rows whose mask is not right padding (rare): explicit bias over their key positions, in blocks of rows."""
    for row, key_pos in bias.irregular:
        kk, vv = k[row : row + 1, :, key_pos], v[row : row + 1, :, key_pos]
        step = max(1, block_elements // (q.shape[1] * max(1, len(key_pos))))
        for start in range(0, bias.length, step):
            end = min(start + step, bias.length)
            out[row : row + 1, :, start:end] = F.scaled_dot_product_attention(
                q[row : row + 1, :, start:end],
                kk,
                vv,
                attn_mask=bias.explicit_block(start, end, key_pos),
                dropout_p=dropout_p,
            )
