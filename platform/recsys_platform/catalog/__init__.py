"""Per-tenant item catalog: declared schema, record validation, bulk upsert."""
