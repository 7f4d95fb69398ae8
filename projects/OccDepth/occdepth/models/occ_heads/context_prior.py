"""3D Context Relation Prior (CRP, MonoScene ``CPMegaVoxels``)."""
from typing import Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.occ_heads.blocks3d import (ASPP3D,
                                                                  Process)


class CPMegaVoxels(nn.Module):
    """Context relation prior between voxels and 2x2x2 super-voxels.

    For an input of spatial size ``size = (X, Y, Z)`` with ``N = X*Y*Z``
    voxels, a strided conv builds ``M = (X//2)(Y//2)(Z//2)`` super-voxel
    ("mega") features. For every relation ``r`` a 1x1x1 conv predicts, for
    every voxel, logits of its relation to each super-voxel; their sigmoid
    weights the super-voxel features into a per-voxel context. The contexts
    of all relations and the input are fused back to ``channels``.

    Args:
        channels: Input and output channels ``Fc``.
        size: Spatial size ``(X, Y, Z)`` of the input; every axis must be at
            least 2.
        n_relations: Number of relations ``R``.
        bn_momentum: BatchNorm3d momentum of the fusion block.
    """

    def __init__(self,
                 channels: int,
                 size: Sequence[int],
                 n_relations: int = 4,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        size = tuple(int(s) for s in size)
        if len(size) != 3 or min(size) < 2:
            raise ValueError('CPMegaVoxels: size must be 3 axes of at least '
                             f'2 voxels, got {size}')
        if n_relations < 1:
            raise ValueError('CPMegaVoxels: n_relations must be positive, '
                             f'got {n_relations}')
        self.size = size
        self.n_relations = n_relations
        self.flatten_size = size[0] * size[1] * size[2]
        self.context_channels = channels * 2
        self.flatten_context_size = ((size[0] // 2) * (size[1] // 2) *
                                     (size[2] // 2))
        # Padding 1 on even axes and 0 on odd ones gives ``s // 2`` outputs.
        padding = tuple((s + 1) % 2 for s in size)
        self.aspp = ASPP3D(channels, (1, 2, 3))
        self.mega_context = nn.Sequential(
            nn.Conv3d(
                channels,
                self.context_channels,
                kernel_size=3,
                stride=2,
                padding=padding))
        self.context_prior_logits = nn.ModuleList([
            nn.Sequential(
                nn.Conv3d(channels, self.flatten_context_size, kernel_size=1))
            for _ in range(n_relations)
        ])
        self.resize = nn.Sequential(
            nn.Conv3d(
                self.context_channels * n_relations + channels,
                channels,
                kernel_size=1,
                bias=False), Process(channels, (1, ), bn_momentum=bn_momentum))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Apply the prior.

        Args:
            x: ``(B, Fc, X, Y, Z)`` with ``(X, Y, Z) == size``.

        Returns:
            ``(out (B, Fc, X, Y, Z), relation_logits (B, R, M, N))``.
        """
        if tuple(x.shape[2:]) != self.size:
            raise ValueError(f'CPMegaVoxels: input of size '
                             f'{tuple(x.shape[2:])}, built for {self.size}')
        bs = x.shape[0]
        x_agg = self.aspp(x)
        mega = self.mega_context(x_agg).reshape(bs, self.context_channels,
                                                -1).permute(0, 2, 1)
        logits = []
        contexts = []
        for layer in self.context_prior_logits:
            logit = layer(x_agg).reshape(bs, self.flatten_context_size,
                                         self.flatten_size)
            logits.append(logit)
            prior = logit.permute(0, 2, 1).sigmoid()
            contexts.append(torch.bmm(prior, mega))
        context = torch.cat(contexts, dim=2).permute(0, 2, 1)
        context = context.reshape(bs, context.shape[1], *self.size)
        out = self.resize(torch.cat([x, context], dim=1))
        return out, torch.stack(logits, dim=1)
