from . import convert_reference, geometry, onnx_export

__all__ = ['convert_reference', 'geometry', 'onnx_export']
