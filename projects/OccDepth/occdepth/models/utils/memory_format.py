"""When a ``channels_last`` switch of a module applies, per device.

``channels_last`` of the 3D head (``SSCHead``) and of the 2D backbone
(``EfficientNetUNet2D``, eval only) is ``True``, ``False`` or ``'auto'``.
``'auto'`` decides on the device of the tensor at hand:

* CPU: on. Measured with oneDNN (README.md, "Speed and memory"): the
  output-resolution 3D convolutions run about 1.5x faster, and the eval
  backbone 11.5 s -> 9 s at 370x1220.
* CUDA, 2D backbone: on under autocast (fp16 / bf16), where NHWC is the
  layout cuDNN's Tensor Core convolutions work in; off in fp32.
* CUDA, 3D head: off. cuDNN's NDHWC convolutions only pay off with fp16
  on recent GPUs, and PyTorch's CUDA BatchNorm3d is slower on
  ``channels_last_3d`` tensors than on contiguous ones in several
  releases.

The CUDA rules are not measured yet (no GPU was available): they are
defaults, and ``True`` / ``False`` in the config override them on every
device. With ``'auto'`` the weights keep the contiguous layout and only the
activations change layout (on the CPU the values are bit-identical to
``True``, and the step was no slower in a 48x48x8 head measurement).
"""
from typing import Union

import torch
from torch import Tensor

ChannelsLast = Union[bool, str]


def check_channels_last(value: ChannelsLast, owner: str) -> ChannelsLast:
    """``value`` if it is ``True``, ``False`` or ``'auto'``, else an error
    naming ``owner``."""
    if value is True or value is False or value == 'auto':
        return value
    raise ValueError(f"{owner}: channels_last must be True, False or 'auto', "
                     f'got {value!r}')


def use_channels_last(setting: ChannelsLast, x: Tensor, dims: int) -> bool:
    """Whether to run ``x`` channels-last under ``setting``.

    Args:
        setting: ``True``, ``False`` or ``'auto'``.
        x: The activation about to be converted.
        dims: 2 for image maps, 3 for voxel volumes.
    """
    if setting != 'auto':
        return bool(setting)
    if x.device.type == 'cpu':
        return True
    if x.device.type == 'cuda' and dims == 2:
        return torch.is_autocast_enabled('cuda')
    return False
