"""Kubeflow Pipelines (KFP v2) training pipelines: one pipeline per module, thin components
over ``recsys_platform.recommenders`` (issue: per-tenant training pipelines)."""
