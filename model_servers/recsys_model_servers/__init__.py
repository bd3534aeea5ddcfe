"""KServe model server(s): retrieval -> ranking -> re-ranking over a registered model
artifact (issue: serving)."""
