from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import \
    EfficientNetUNet2D

__all__ = ['EfficientNetUNet2D']
