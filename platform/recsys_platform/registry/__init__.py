"""The model registry port (per-tenant registered models, aliases, promotion) and its MLflow adapter."""
