"""Export the OccDepth inference path to ONNX.

The exported graph maps RGB images and the camera calibration to the SSC
logits; the calibration is an input, so one file serves every sequence.
Shapes (batch, views, image size) are fixed at export time: the "SAME"
padding of the EfficientNet encoder and the voxel grid are computed from
them.

The OAD head samples its depth distribution with a 5-D (volumetric)
``grid_sample``, which ONNX supports from opset 20 (``GridSample``-20);
ONNX Runtime runs it on the CPU from version 1.17.
"""
import importlib.util
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample
from torch import Tensor, nn

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    kitti_example_calibration

INPUT_NAMES = ('imgs', 'cam2img', 'lidar2cam')
OUTPUT_NAMES = ('ssc_logits', )
MIN_OPSET = 20


class OccDepthExportWrapper(nn.Module):
    """OccDepth inference with the calibration as plain tensor inputs.

    Normalises the images with the model's data preprocessor statistics and
    runs the model's own tensor-mode forward on data samples that carry the
    given calibration (no 2D augmentation). The wrapped model is put in eval
    mode and its EfficientNet encoder is switched to the plain (exportable)
    swish, which computes the same values as the memory-efficient one.

    Args:
        model: An ``OccDepth`` model with images as its only input (no
            ``virtual_stereo``, which would need a depth map).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if getattr(model, 'virtual_stereo', None) is not None:
            raise ValueError('OccDepthExportWrapper: models with '
                             'virtual_stereo take a depth map as well; only '
                             'image-only (stereo) models are exported')
        self.model = model
        encoder = getattr(model.backbone, 'encoder', None)
        if hasattr(encoder, 'set_swish'):
            encoder.set_swish(memory_efficient=False)
        # The exporter restores the wrapper's mode recursively afterwards:
        # the wrapper itself must be in eval mode too.
        self.eval()

    def forward(self, imgs: Tensor, cam2img: Tensor,
                lidar2cam: Tensor) -> Tensor:
        """SSC logits of a batch.

        Args:
            imgs: ``(B, V, 3, H, W)`` float RGB in ``[0, 255]``.
            cam2img: ``(B, V, 3, 3)`` float64 intrinsics.
            lidar2cam: ``(B, V, 4, 4)`` float64 voxel frame -> camera.

        Returns:
            ``(B, num_classes, X, Y, Z)`` logits.
        """
        pre = self.model.data_preprocessor
        imgs = (imgs - pre.mean) / pre.std
        samples = []
        for i in range(imgs.shape[0]):
            sample = Det3DDataSample()
            # set_field keeps the tensors themselves (set_metainfo would
            # deep-copy them out of the traced graph).
            sample.set_field(cam2img[i], 'cam2img', field_type='metainfo')
            sample.set_field(lidar2cam[i], 'lidar2cam', field_type='metainfo')
            sample.set_field(
                tuple(imgs.shape[-2:]), 'img_shape', field_type='metainfo')
            samples.append(sample)
        return self.model._forward({'imgs': imgs}, samples)


def example_inputs(img_hw: Sequence[int],
                   num_views: int = 2,
                   batch_size: int = 1,
                   seed: int = 0) -> Tuple[Tensor, Tensor, Tensor]:
    """Random images and the KITTI example calibration for the wrapper.

    The calibration is ``kitti_calibration.kitti_example_calibration``.
    """
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.rand(batch_size, num_views, 3, *img_hw, generator=gen) * 255
    cam2img, lidar2cam = kitti_example_calibration(img_hw, num_views)
    cam2img = torch.from_numpy(cam2img).expand(batch_size, -1, -1, -1)
    lidar2cam = torch.from_numpy(lidar2cam).expand(batch_size, -1, -1, -1)
    return imgs, cam2img.contiguous(), lidar2cam.contiguous()


def _require(package: str, purpose: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ModuleNotFoundError(
            f'{purpose} needs the {package!r} package: pip install -r '
            'requirements/optional.txt')


def export_onnx(wrapper: OccDepthExportWrapper,
                inputs: Tuple[Tensor, Tensor, Tensor],
                path: str,
                opset: int = MIN_OPSET) -> None:
    """Write the wrapper's graph for inputs of these shapes to ``path``.

    Args:
        wrapper: The model to export.
        inputs: ``(imgs, cam2img, lidar2cam)`` example inputs; their shapes
            are those of the exported graph.
        path: Output ``.onnx`` file (weights inside).
        opset: ONNX opset, at least 20. The TorchScript-based exporter is
            used (``dynamo=False``).
    """
    if opset < MIN_OPSET:
        raise ValueError(f'export_onnx: opset {opset} cannot express the '
                         f'volumetric GridSample of the OAD head; use '
                         f'>= {MIN_OPSET}')
    _require('onnx', 'ONNX export')
    kwargs = dict(
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        opset_version=opset,
        dynamo=False)
    wrapper.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # Shape checks and the "SAME" padding become constants of the
        # graph: the shapes are fixed by design.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(wrapper, tuple(inputs), path, **kwargs)


def run_onnxruntime(path: str, inputs: Tuple[Tensor, Tensor,
                                             Tensor]) -> np.ndarray:
    """SSC logits of the exported file, computed by ONNX Runtime (CPU)."""
    _require('onnxruntime', 'Running the exported model')
    import onnxruntime

    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    feed: Dict[str, np.ndarray] = {
        name: value.numpy()
        for name, value in zip(INPUT_NAMES, inputs)
    }
    return session.run(list(OUTPUT_NAMES), feed)[0]


def max_abs_difference(path: str,
                       wrapper: OccDepthExportWrapper,
                       inputs: Tuple[Tensor, Tensor, Tensor],
                       expected: Optional[Tensor] = None) -> float:
    """Largest ``|ONNX Runtime - PyTorch|`` of the logits on ``inputs``."""
    if expected is None:
        with torch.no_grad():
            expected = wrapper(*inputs)
    got = run_onnxruntime(path, inputs)
    return float(np.abs(got - expected.numpy()).max())
