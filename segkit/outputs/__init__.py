"""What a run writes: the output folder's layout, whole-file writes, records, masks, panels, COCO,
quality flags and the agreement report, and reading them back."""
