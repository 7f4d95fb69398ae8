"""SSCDataPreprocessor: normalise and stack the views, move to the device."""
from typing import Dict, List, Optional, Sequence

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseDataPreprocessor
from torch import nn

# registers the batch augmentations
from projects.OccDepth.occdepth.models import \
    batch_augments as _batch_augments  # noqa: F401


@MODELS.register_module()
class SSCDataPreprocessor(BaseDataPreprocessor):
    """Turn packed samples into a normalised ``(B, V, 3, H, W)`` batch.

    In training, ``batch_augments`` then run in order on the normalised
    views ``(B * V, 3, H, W)``: augmentations defined on normalised tensors,
    such as the released code's strong augmentation
    (``models/batch_augments.py``), which the data pipeline (uint8 pixels)
    cannot express. They draw from torch's global CPU generator of the main
    process, seeded per iteration by ``ResumableRandomnessHook``.

    Args:
        mean: Per-channel mean of the 0-255 RGB input.
        std: Per-channel standard deviation of the 0-255 RGB input.
        non_blocking: Copy to the device without blocking.
        batch_augments: Configs of batch augmentations (``MODELS``), None
            for none.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 non_blocking: bool = False,
                 batch_augments: Optional[List[dict]] = None) -> None:
        super().__init__(non_blocking=non_blocking)
        self.batch_augments = (
            nn.ModuleList(
                MODELS.build(cfg)
                for cfg in batch_augments) if batch_augments else None)
        self.register_buffer('mean',
                             torch.tensor(mean).view(1, 1, 3, 1, 1), False)
        self.register_buffer('std',
                             torch.tensor(std).view(1, 1, 3, 1, 1), False)

    def forward(self, data: Dict, training: bool = False) -> Dict:
        """Stack, cast to float and normalise the images of a batch.

        Args:
            data: ``{'inputs': {'imgs': list of (V, 3, H, W) or a stacked
                tensor}, 'data_samples': list}`` from the data loader.
            training: Whether to run ``batch_augments``.

        Returns:
            ``{'inputs': {'imgs': (B, V, 3, H, W) float}, 'data_samples'}``.
        """
        data = self.cast_data(data)
        imgs = data['inputs']['imgs']
        if isinstance(imgs, (list, tuple)):
            shapes = {tuple(img.shape) for img in imgs}
            if len(shapes) != 1:
                raise ValueError('all samples of a batch must have the same '
                                 f'number of views and image size, got '
                                 f'{sorted(shapes)}')
            imgs = torch.stack(list(imgs))
        if imgs.dim() != 5 or imgs.shape[2] != 3:
            raise ValueError('expected images of shape (B, V, 3, H, W), got '
                             f'{tuple(imgs.shape)}')
        imgs = (imgs.float() - self.mean) / self.std
        if training and self.batch_augments is not None:
            views = imgs.flatten(0, 1)
            for augment in self.batch_augments:
                views = augment(views)
            imgs = views.reshape(imgs.shape)
        return {
            'inputs': {
                'imgs': imgs
            },
            'data_samples': data.get('data_samples')
        }
