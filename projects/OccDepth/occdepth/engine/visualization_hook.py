"""SSCVisualizationHook: PNG renders of prediction vs ground truth at test."""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from PIL import Image

from projects.OccDepth.occdepth.datasets.label_maps import \
    SEMANTICKITTI_PALETTE
from projects.OccDepth.occdepth.models.utils import geometry
from projects.OccDepth.occdepth.visualization import render_comparison


@HOOKS.register_module()
class SSCVisualizationHook(Hook):
    """Write ``{out_dir}/{sequence}_{frame_id}.png`` for every test sample.

    Each picture shows the left input image, the prediction and the ground
    truth (when the sample has one) from the same viewpoint; voxels outside
    the left camera's view are dimmed and the camera frustum is drawn.
    ``tools/test.py --show-dir DIR`` adds this hook.

    Args:
        out_dir: Output folder (created if needed).
        interval: Render every ``interval``-th test batch.
        frustum_depth: Depth in metres of the drawn camera frustum.
    """

    priority = 'LOW'

    def __init__(self,
                 out_dir: str,
                 interval: int = 1,
                 frustum_depth: float = 10.0) -> None:
        self.out_dir = out_dir
        self.interval = interval
        self.frustum_depth = frustum_depth

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Render the samples of one test batch."""
        if batch_idx % self.interval or not outputs:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        meta = runner.test_dataloader.dataset.metainfo
        palette = meta.get('palette', SEMANTICKITTI_PALETTE)
        imgs = data_batch['inputs']['imgs'] if data_batch else None
        for i, sample in enumerate(outputs):
            image = None
            if imgs is not None:
                image = imgs[i][0].permute(1, 2, 0).cpu().numpy()
                image = image.astype(np.uint8)
            pred = sample.pred_occ.cpu().numpy()
            gt = sample.gt_occ.cpu().numpy() if hasattr(sample,
                                                        'gt_occ') else None
            picture = self.render(sample.metainfo, pred, gt, image, palette)
            name = f"{sample.metainfo.get('sequence', 'seq')}_" \
                   f"{sample.metainfo.get('frame_id', batch_idx)}.png"
            Image.fromarray(picture).save(osp.join(self.out_dir, name))

    def render(self, meta: dict, pred: np.ndarray, gt: Optional[np.ndarray],
               image: Optional[np.ndarray], palette) -> np.ndarray:
        """Render one sample (prediction, ground truth, left image)."""
        grid_size = pred.shape
        voxel_size = float(meta['voxel_size'])
        origin = tuple(meta['voxel_origin'])
        cam2img = torch.as_tensor(meta['cam2img'][0], dtype=torch.float64)
        lidar2cam = torch.as_tensor(meta['lidar2cam'][0], dtype=torch.float64)
        img_hw = tuple(meta['img_shape'][:2])
        # the left image as fed to the network: undo nothing, project with
        # the recorded augmentation so the frustum matches the picture
        ida = meta.get('ida_mat')
        ida = None if ida is None else torch.as_tensor(
            ida, dtype=torch.float64)
        lidar2img = geometry.build_lidar2img(cam2img, lidar2cam, ida)
        centers = geometry.voxel_centers(grid_size, voxel_size, origin)
        uv, depth = geometry.project_points(centers, lidar2img[None, None])
        fov = geometry.in_image(geometry.round_pixels(uv), depth, img_hw)[0, 0]
        frustum = geometry.camera_frustum(cam2img.numpy(), lidar2cam.numpy(),
                                          img_hw, self.frustum_depth)
        if gt is None:
            gt = np.zeros_like(pred)
        return render_comparison(
            pred,
            gt,
            image=image,
            palette=palette,
            voxel_size=voxel_size,
            origin=origin,
            fov_mask=fov.numpy().reshape(grid_size),
            camera_frustum=frustum)
