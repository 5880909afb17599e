"""Ground truth readers (COCO, instance PNGs, semantic PNGs) and the one call that opens any of them."""
