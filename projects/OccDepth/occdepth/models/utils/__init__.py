from . import geometry

__all__ = ['geometry']
