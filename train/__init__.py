"""Training: ST-GCN encoders, VCL and SkeletonCLR pretraining, evaluation protocols (torch)."""
