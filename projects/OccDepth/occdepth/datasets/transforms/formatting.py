"""Packing of a stereo SSC sample into ``inputs`` + ``Det3DDataSample``."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import Det3DDataSample

DEFAULT_META_KEYS = ('cam2img', 'lidar2cam', 'ida_mat', 'flip', 'img_shape',
                     'ori_shape', 'voxel_origin', 'voxel_size', 'grid_size',
                     'sequence', 'frame_id', 'sample_idx')
DEFAULT_DATA_KEYS = ('gt_occ', 'gt_occ_crp', 'gt_depth')


@TRANSFORMS.register_module()
class PackSSCInputs(BaseTransform):
    """Pack images, targets and camera metadata of one sample.

    Required Keys:

    - imgs (list[np.ndarray]): HWC uint8 views, all the same size.
    - the ``meta_keys`` and ``data_keys`` that are present (missing ones are
      skipped; ``ida_mat`` defaults to the 3x3 identity and ``flip`` to
      False).

    Output:

    - inputs['imgs']: uint8 tensor ``(V, 3, H, W)``.
    - data_samples: :class:`Det3DDataSample` with the meta keys as metainfo
      and each present data key as a tensor attribute (``gt_occ*`` uint8,
      ``gt_depth`` float32).

    Args:
        meta_keys: Keys copied into the sample's metainfo.
        data_keys: Array keys set as tensor attributes of the sample.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS,
                 data_keys: Sequence[str] = DEFAULT_DATA_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)
        self.data_keys = tuple(data_keys)

    def transform(self, results: dict) -> dict:
        """Build ``dict(inputs=..., data_samples=...)``."""
        imgs = results['imgs']
        shapes = {img.shape for img in imgs}
        if len(shapes) != 1:
            raise ValueError(f'cannot stack views of different shapes '
                             f'{sorted(shapes)}')
        stacked = np.stack(imgs).transpose(0, 3, 1, 2)
        inputs = dict(imgs=torch.from_numpy(np.ascontiguousarray(stacked)))

        results.setdefault('ida_mat', np.eye(3))
        results.setdefault('flip', False)
        metainfo = {k: results[k] for k in self.meta_keys if k in results}
        data_sample = Det3DDataSample(metainfo=metainfo)
        for key in self.data_keys:
            if key not in results:
                continue
            value = np.ascontiguousarray(results[key])
            if key == 'gt_depth':
                value = value.astype(np.float32, copy=False)
            setattr(data_sample, key, torch.from_numpy(value))
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'data_keys={self.data_keys})')
