"""Deployments: a tenant's registered model version served behind an endpoint.

One port (:class:`~recsys_platform.deploy.ports.Deployer`) with two adapters: local
model-server processes (embedded mode) and KServe InferenceServices (Kubernetes).
"""
