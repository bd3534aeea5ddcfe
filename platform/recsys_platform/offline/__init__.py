"""The offline store: every accepted event as Parquet, partitioned by tenant and date."""
