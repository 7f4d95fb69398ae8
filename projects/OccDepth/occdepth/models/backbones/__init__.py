from .efficientnet_unet2d import EfficientNetUNet2D

__all__ = ['EfficientNetUNet2D']
