"""Pipelines: `create_pipeline`, the local runner and experiment configs."""
