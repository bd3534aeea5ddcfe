"""Per-tenant training: data loading, pipeline steps, the run service and its scheduler."""
