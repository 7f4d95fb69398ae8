"""SSCDataPreprocessor: normalise and stack the views, move to the device."""
from typing import Dict, Sequence

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseDataPreprocessor


@MODELS.register_module()
class SSCDataPreprocessor(BaseDataPreprocessor):
    """Turn packed samples into a normalised ``(B, V, 3, H, W)`` batch.

    Args:
        mean: Per-channel mean of the 0-255 RGB input.
        std: Per-channel standard deviation of the 0-255 RGB input.
        non_blocking: Copy to the device without blocking.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.register_buffer('mean',
                             torch.tensor(mean).view(1, 1, 3, 1, 1), False)
        self.register_buffer('std',
                             torch.tensor(std).view(1, 1, 3, 1, 1), False)

    def forward(self, data: Dict, training: bool = False) -> Dict:
        """Stack, cast to float and normalise the images of a batch.

        Args:
            data: ``{'inputs': {'imgs': list of (V, 3, H, W) or a stacked
                tensor}, 'data_samples': list}`` from the data loader.
            training: Unused; part of the mmengine interface.

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
        return {
            'inputs': {
                'imgs': imgs
            },
            'data_samples': data.get('data_samples')
        }
