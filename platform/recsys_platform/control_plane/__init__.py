"""The control plane: the tenant onboarding API (FastAPI)."""
