"""Detection: rules run over the lake (Sigma in :mod:`cairn.detect.sigma`)."""
