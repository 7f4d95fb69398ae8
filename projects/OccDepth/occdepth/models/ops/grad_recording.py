"""When the training memory ops of this folder run.

``upsample_concat_conv``, ``bn_act_conv`` and ``recompute_prefix_conv``
save less for the backward pass than the plain module chains they stand
for, and are written for fp32 graphs. Their callers use them exactly when
:func:`records_fp32_graph` holds; otherwise (inference, ONNX tracing,
autocast) the plain chain runs, which is the same maths.
"""
import torch
from torch import Tensor


def records_fp32_graph(x: Tensor) -> bool:
    """Whether autograd records a graph for ops on ``x`` outside autocast.

    True when gradients are enabled, no JIT trace is running and autocast is
    off for ``x``'s device type.
    """
    return (torch.is_grad_enabled() and not torch.jit.is_tracing()
            and not torch.is_autocast_enabled(x.device.type))
