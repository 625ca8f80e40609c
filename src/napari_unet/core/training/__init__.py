"""Training: targets from painted labels, patches, augmentation, the loss, held-out checks."""
