"""Lines on a page: geometry, the line-id rule, merging and mending segmentations, hand corrections and their log."""
