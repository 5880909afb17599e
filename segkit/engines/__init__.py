"""Engines decide where a run's work happens; ``segkit.image_stage`` decides what is written.

The local engine is ``segkit.runner.Runner`` (threads in this process). ``ray_engine`` runs the same
steps on a Ray cluster (``segkit run --engine ray``); it is imported only when asked for, so segkit
never imports Ray otherwise. ``segkit.job.run_engine`` is the one place that picks between them.
"""
