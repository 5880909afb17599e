"""Running things: the job, the per-image steps, the local and Ray engines, detect and compare."""
