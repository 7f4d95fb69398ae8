from . import activation_checkpoint, convert_reference, geometry, onnx_export

__all__ = [
    'activation_checkpoint', 'convert_reference', 'geometry', 'onnx_export'
]
