"""Optimised kernels, each beside the plain formulation it computes.

Every op ``name`` has a reference ``name_reference``: the direct, readable
statement of the same maths, used as the test oracle (values and gradients).
The modules call the optimised op.
"""
from projects.OccDepth.occdepth.models.ops.bn_act_conv import (
    bn_act_conv, bn_act_conv_reference)
from projects.OccDepth.occdepth.models.ops.class_sums import (
    class_sums, class_sums_reference)
from projects.OccDepth.occdepth.models.ops.frustum_sums import (
    frustum_class_sums, frustum_class_sums_reference)
from projects.OccDepth.occdepth.models.ops.mbconv import (
    mbconv_forward, mbconv_forward_reference)
from projects.OccDepth.occdepth.models.ops.recompute_conv import (
    recompute_prefix_conv, recompute_prefix_conv_reference)
from projects.OccDepth.occdepth.models.ops.stereo_cosine import (
    stereo_cosine_fusion, stereo_cosine_reference)
from projects.OccDepth.occdepth.models.ops.upsample_concat_conv import (
    upsample_concat_conv, upsample_concat_conv_reference)

__all__ = [
    'bn_act_conv', 'bn_act_conv_reference', 'class_sums',
    'class_sums_reference', 'frustum_class_sums',
    'frustum_class_sums_reference', 'mbconv_forward',
    'mbconv_forward_reference', 'recompute_prefix_conv',
    'recompute_prefix_conv_reference', 'stereo_cosine_fusion',
    'stereo_cosine_reference', 'upsample_concat_conv',
    'upsample_concat_conv_reference'
]
