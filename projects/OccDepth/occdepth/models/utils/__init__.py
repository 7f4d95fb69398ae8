"""Camera/voxel geometry and activation checkpointing of the models.

The two converters of this folder are imported by their tools only, never
here: ``onnx_export`` (``tools/export_onnx.py``) imports the datasets package
for the KITTI example rig, and ``convert_reference``
(``tools/convert_official_ckpt.py``) imports the backbone, which imports this
package; importing either here would close an import cycle.
"""
from projects.OccDepth.occdepth.models.utils import (activation_checkpoint,
                                                     geometry)

__all__ = ['activation_checkpoint', 'geometry']
