from . import depth_loss, ssc_losses

__all__ = ['depth_loss', 'ssc_losses']
