"""Semantic segmentation transfer (paper Table 7): UperNet or a linear head on the encoder, mIoU at single scale."""
