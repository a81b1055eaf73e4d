"""The SynCLR loss terms: multi-positive contrastive and iBOT with distributed Sinkhorn-Knopp."""
