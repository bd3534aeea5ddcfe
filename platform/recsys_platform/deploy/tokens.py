"""The per-deployment token a model server requires from its callers (the gateway).

The token is derived, not stored: ``HMAC-SHA256(model_token_secret, "<tenant>/<deployment>")``.
The control plane hands it to the model server it starts (``RECSYS_MODEL_SERVER_AUTH_TOKEN``);
the gateway, holding the same platform secret, derives it for each deployment it calls and
sends it in :data:`MODEL_TOKEN_HEADER`. A token opens one deployment only; knowing one does
not reveal the secret or any other deployment's token.
"""

from __future__ import annotations

import hashlib
import hmac

#: The request header that carries a deployment's token to its model server.
MODEL_TOKEN_HEADER = "X-Recsys-Model-Token"
#: The model-server setting (environment variable) that holds the token it requires.
MODEL_TOKEN_ENV = "RECSYS_MODEL_SERVER_AUTH_TOKEN"


def deployment_token(secret: str, tenant_id: str, name: str) -> str:
    """The token of deployment ``name`` of ``tenant_id`` under the platform's ``secret``."""
    message = f"{tenant_id}/{name}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
