"""Tenants, their API keys and quotas: schemas, services and declarative specs."""
