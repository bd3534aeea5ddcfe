"""Real-time user features: state updates from events and the online store port."""
