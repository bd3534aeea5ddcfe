"""The MLflow pyfunc face of a recsys model: a thin wrapper over ``load_model`` / ``recommend``.

The artifact directory written by ``recommenders.artifact.save_model`` is logged as the
``recsys_model`` artifact; the KServe model server reads that directory directly and does not
go through this wrapper. It exists so ``mlflow.pyfunc.load_model("models:/recsys-<t>@champion")``
works for notebooks and batch scoring.
"""

from __future__ import annotations

from typing import Any

from mlflow.pyfunc.model import PythonModel

ARTIFACT_KEY = "recsys_model"


class RecsysPyfuncModel(PythonModel):
    """``predict`` takes rows ``{"history": [item ids, most recent first], "n": 10}``."""

    def load_context(self, context: Any) -> None:
        from recsys_platform.recommenders.artifact import load_model

        self.model = load_model(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # noqa: ANN001
        """One ranked list of ``{"item_id", "score", "reason"}`` per input row."""
        rows = model_input.to_dict("records") if hasattr(model_input, "to_dict") else list(model_input)
        out = []
        for row in rows:
            history = list(row.get("history") or [])
            n = int(row.get("n") or 10)
            items = self.model.recommend(history, n=n)
            out.append([{"item_id": i.item_id, "score": i.score, "reason": i.reason} for i in items])
        return out
