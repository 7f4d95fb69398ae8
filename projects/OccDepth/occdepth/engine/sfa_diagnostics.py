"""Does Stereo-SFA's cosine weight tell surfaces from free space?

Stereo-SFA (paper Sec. 3.2) weights each voxel's left and right feature
samples by their cosine similarity: a voxel on a surface projects onto the
same scene point in both views (high similarity), a voxel in front of or
behind it onto different points (lower similarity), as long as the features
differ over the disparity error. These functions measure that on a trained
model: the cosine of every voxel of the projected grid seen by both views,
per feature scale, split by the ground truth into surface and free voxels,
with the area under the ROC curve (0.5: the weight carries no depth
information). ``tools/analysis_tools/sfa_cosine.py`` prints them.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def view_cosines(
        model,
        imgs: torch.Tensor,
        data_samples: Sequence,
        centred: bool = False) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Cosine of the two views' samples at every projected voxel.

    Args:
        model: A two-view ``OccDepth`` with a ``StereoSFA`` view transformer.
        imgs: ``(1, 2, 3, H, W)`` preprocessed images.
        data_samples: The sample's data sample (its camera geometry).
        centred: Subtract each feature map's per-channel mean over the image
            before sampling (separates a map-wide common component from
            the local content).

    Returns:
        tuple: ``{scale (str): (N,) cosines}`` plus ``'sum'`` (of the
        samples summed over scales, as SFA sums its volumes) and the bool
        ``(N,)`` mask of voxels seen by both views; ``N`` voxels in C order.
    """
    if imgs.shape[:2] != (1, 2):
        raise ValueError(f'view_cosines: one sample of two views expected, '
                         f'got images of shape {tuple(imgs.shape)}')
    geo = model.camera_geometry(data_samples, 2)
    by_scale = dict(zip(model.backbone.out_scales, model.backbone(imgs)))
    sfa = model.view_transformer
    feats = [by_scale[s].float() for s in sfa.scales]
    if centred:
        feats = [f - f.mean(dim=(-2, -1), keepdim=True) for f in feats]
    shapes = tuple(tuple(f.shape[-2:]) for f in feats)
    tables = sfa._sample_tables(geo['lidar2img'][0], tuple(imgs.shape[-2:]),
                                shapes)
    rows = sfa._gather_rows(feats, [tables])
    cos = {}
    for scale, row in zip(sfa.scales, rows):
        cos[str(scale)] = F.cosine_similarity(
            row[0, 0], row[0, 1], dim=-1).numpy()
    total = sum(rows)
    cos['sum'] = F.cosine_similarity(total[0, 0], total[0, 1], dim=-1).numpy()
    return cos, tables['both'][:, 0].numpy()


def coarse_occupancy(labels: np.ndarray,
                     factor: int,
                     ignore_index: int = 255) -> Tuple[np.ndarray, np.ndarray]:
    """Surface and free masks of the ``factor`` times coarser grid.

    A coarse voxel is a surface when one of its fine voxels is occupied
    (label > 0, not ``ignore_index``), free when all of them are known and
    empty, neither otherwise.

    Returns:
        tuple of bool arrays ``(X / f, Y / f, Z / f)``: surface, free.
    """
    x, y, z = (n // factor for n in labels.shape)
    blocks = np.asarray(labels).reshape(x, factor, y, factor, z, factor)
    blocks = blocks.transpose(0, 2, 4, 1, 3, 5).reshape(x, y, z, -1)
    known = blocks != ignore_index
    occupied = known & (blocks > 0)
    return occupied.any(-1), known.all(-1) & ~occupied.any(-1)


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counting one half."""
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        raise ValueError('roc_auc needs positive and negative scores')
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind='mergesort')
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    # average ranks of ties
    _, inverse, counts = np.unique(
        values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    u = ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


@torch.no_grad()
def surface_free_separation(model,
                            dataloader,
                            frames: int,
                            centred: bool = False) -> Dict[str, dict]:
    """Cosines of surface vs free voxels over the first ``frames`` samples.

    Returns:
        ``{scale: dict(surface=mean, free=mean, auc=..., counts=(n_s,
        n_f))}`` over the projected voxels seen by both views.
    """
    model.eval()
    factor = model.project_scale
    pooled: Dict[str, Tuple[list, list]] = {}
    for index, batch in enumerate(dataloader):
        if index == frames:
            break
        data = model.data_preprocessor(batch, False)
        samples = data['data_samples']
        cos, both = view_cosines(model, data['inputs']['imgs'], samples,
                                 centred)
        surface, free = coarse_occupancy(
            torch.as_tensor(samples[0].gt_occ).numpy(), factor)
        surface, free = surface.reshape(-1) & both, free.reshape(-1) & both
        for key, values in cos.items():
            pos, neg = pooled.setdefault(key, ([], []))
            pos.append(values[surface])
            neg.append(values[free])
    out = {}
    for key, (pos, neg) in pooled.items():
        pos, neg = np.concatenate(pos), np.concatenate(neg)
        out[key] = dict(
            surface=float(pos.mean()),
            free=float(neg.mean()),
            auc=roc_auc(pos, neg),
            counts=(int(pos.size), int(neg.size)))
    return out
