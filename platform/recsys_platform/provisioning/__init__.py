"""Per-tenant resources outside the database, created through ports (one adapter per backend)."""
