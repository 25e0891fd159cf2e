"""Export of trained checkpoints to ONNX and the torch-free ONNX Runtime wrapper."""
