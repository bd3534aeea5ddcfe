"""The stream processor: events -> real-time user features, offline store, dead letters."""
