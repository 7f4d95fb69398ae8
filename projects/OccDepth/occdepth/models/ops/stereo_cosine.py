"""Two-view cosine fusion of Stereo-SFA (paper Sec. 3.2, Eq. 2 and 3).

For every voxel ``n`` and scale ``s`` the two views' features ``f_0``,
``f_1`` under the voxel's projected pixels are fused into
``w * (f_0 + f_1) / 2`` with ``w = cos(f_0, f_1)`` where both views see the
voxel and ``w = 1`` elsewhere (an unseen view reads a zero feature); the
fused rows of all scales are summed. ``cos`` is ``F.cosine_similarity``
with ``eps = 1e-8``.

The features of one sample and scale are addressed as rows of a table
``(V * h * w + 1, C)``: row ``v * h * w + y * w + x`` is pixel ``(x, y)`` of
view ``v``, the last row is zero.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

# Voxels per chunk of the fused function (rows of C floats).
CHUNK = 16384
_EPS = 1e-8  # eps of F.cosine_similarity


def stereo_cosine_reference(indices: Sequence[Sequence[Tensor]],
                            both: Sequence[Tensor],
                            feats: Sequence[Tensor]) -> Tensor:
    """The plain formulation.

    Args:
        indices: Per sample, per scale, ``(2, N)`` row of every voxel in the
            table of each view (the zero row when out of view).
        both: Per sample, ``(N, 1)`` bool: both views see the voxel.
        feats: Per scale, ``(B, 2, C, h_s, w_s)`` features.

    Returns:
        ``(B, N, C)`` fused rows summed over the scales.
    """
    out = []
    for i, (index, seen) in enumerate(zip(indices, both)):
        total = 0
        for feat, rows in zip(feats, index):
            c = feat.shape[2]
            table = F.pad(feat[i].permute(0, 2, 3, 1).reshape(-1, c),
                          (0, 0, 0, 1))
            f0 = table[rows[0].long()]
            f1 = table[rows[1].long()]
            cos = F.cosine_similarity(f0, f1, dim=1, eps=_EPS)[:, None]
            weight = torch.where(seen, cos, torch.ones_like(cos))
            total = total + weight * (f0 + f1) / 2
        out.append(total)
    return torch.stack(out)


def _row_table(feat: Tensor) -> Tensor:
    """``(V, C, h, w)`` -> ``(V * h * w + 1, C)`` rows; the last is zero."""
    v, c, h, w = feat.shape
    table = feat.new_empty(v * h * w + 1, c)
    table[:-1].view(v, h, w, c).copy_(feat.permute(0, 2, 3, 1))
    table[-1] = 0
    return table


def _chunks(n: int) -> List[slice]:
    return [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


def _cosine(r0: Tensor, r1: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Row-wise cosine, ``1 / (max(n0, eps) max(n1, eps))`` and norms."""
    n0 = torch.linalg.vector_norm(r0, dim=1, keepdim=True)
    n1 = torch.linalg.vector_norm(r1, dim=1, keepdim=True)
    inv = 1 / (n0.clamp_min(_EPS) * n1.clamp_min(_EPS))
    dot = torch.linalg.vecdot(r0, r1, dim=1).unsqueeze(1)
    return dot * inv, inv, n0, n1


class _StereoCosine(torch.autograd.Function):
    """The fusion over chunks of voxels, rows recomputed in the backward.

    The gradient of ``cos`` is exact wherever ``|f| > eps``.
    """

    @staticmethod
    def forward(ctx, indices: list, both: list, *feats: Tensor) -> Tensor:
        b, _, c = feats[0].shape[:3]
        n = both[0].shape[0]
        out = feats[0].new_zeros(b, n, c)
        tables = []
        for i in range(b):
            tables.append([_row_table(feat[i]) for feat in feats])
            for table, index in zip(tables[i], indices[i]):
                for sl in _chunks(n):
                    r0 = table.index_select(0, index[0, sl])
                    r1 = table.index_select(0, index[1, sl])
                    cos = _cosine(r0, r1)[0]
                    half = torch.where(both[i][sl], cos, 1.0) * 0.5
                    out[i, sl].addcmul_(r0.add_(r1), half)
        ctx.tables, ctx.indices, ctx.both = tables, indices, both
        ctx.shapes = [tuple(f.shape) for f in feats]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        grad = grad.contiguous()
        b, n, c = grad.shape
        grads = []
        for s, (_, v, _, h, w) in enumerate(ctx.shapes):
            if not ctx.needs_input_grad[2 + s]:
                grads.append(None)
                continue
            full = grad.new_zeros(b, v * h * w + 1, c)
            for i in range(b):
                table, index = ctx.tables[i][s], ctx.indices[i][s]
                for sl in _chunks(n):
                    g = grad[i, sl]
                    r0 = table.index_select(0, index[0, sl])
                    r1 = table.index_select(0, index[1, sl])
                    cos, inv, n0, n1 = _cosine(r0, r1)
                    both = ctx.both[i][sl]
                    base = g * (torch.where(both, cos, 1.0) * 0.5)
                    # d out / d cos = (f_0 + f_1) / 2, seen by both only
                    dcos = torch.where(
                        both, (g * (r0 + r1)).sum(1, keepdim=True) * 0.5, 0.0)
                    cross = dcos * inv
                    d0 = torch.where(n0 > _EPS, dcos * cos / (n0 * n0), 0.0)
                    d1 = torch.where(n1 > _EPS, dcos * cos / (n1 * n1), 0.0)
                    full[i].index_add_(
                        0, index[0, sl],
                        torch.addcmul(base, r1, cross).sub_(r0 * d0))
                    full[i].index_add_(
                        0, index[1, sl],
                        torch.addcmul(base, r0, cross).sub_(r1 * d1))
            grads.append(full[:, :-1].view(b, v, h, w,
                                           c).permute(0, 1, 4, 2, 3))
        return (None, None, *grads)


def stereo_cosine_fusion(indices: Sequence[Sequence[Tensor]],
                         both: Sequence[Tensor],
                         feats: Sequence[Tensor]) -> Tensor:
    """:func:`stereo_cosine_reference` in chunks of :data:`CHUNK` voxels.

    The gathered rows are not kept for the backward pass: it gathers them
    again, so memory stays at one ``(CHUNK, C)`` block per view.

    Args:
        indices: Per sample, per scale, ``(2, N)`` int32 / long row of every
            voxel in the table of each view (the zero row when out of view).
        both: Per sample, ``(N, 1)`` bool: both views see the voxel.
        feats: Per scale, ``(B, 2, C, h_s, w_s)`` features.

    Returns:
        ``(B, N, C)`` fused rows summed over the scales.
    """
    return _StereoCosine.apply(indices, both, *feats)
