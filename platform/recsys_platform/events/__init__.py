"""User events: the wire schema, the ``EventLog`` port and its adapters (Kafka, SQLite)."""
