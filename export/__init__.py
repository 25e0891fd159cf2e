"""Export of trained checkpoints to ONNX with a parity check, and ``vcl predict`` (checkpoint or ONNX)."""
