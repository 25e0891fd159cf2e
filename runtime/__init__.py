"""Torch-free inference: the ONNX Runtime model, its manifest, and the scores computed from its outputs."""
