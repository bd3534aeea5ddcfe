"""Entry point: ``python -m recsys_model_servers --name T_acme --model-uri models:/recsys-acme@champion``.

Flags override ``RECSYS_MODEL_SERVER_*`` environment variables. Our own arguments are
parsed here and passed to KServe explicitly; ``sys.argv`` is reset before ``kserve``
is imported, because ``kserve.model_server`` parses ``sys.argv`` at import time.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("recsys_model_servers")


def build_parser() -> argparse.ArgumentParser:
    """The command line (every flag is optional: the environment may set it instead)."""
    p = argparse.ArgumentParser(
        prog="python -m recsys_model_servers",
        description="Serve one tenant's recommender over KServe V1/V2 (env prefix RECSYS_MODEL_SERVER_).",
    )
    p.add_argument("--name", help="deployment name = model name served (/v1/models/<name>:predict)")
    p.add_argument(
        "--model-uri", help="models:/recsys-<tenant>@<alias>, models:/recsys-<tenant>/<version> or a folder"
    )
    p.add_argument("--tenant-id", help="tenant whose users' online features are read")
    p.add_argument("--tracking-uri", help="MLflow tracking server (default: MLFLOW_TRACKING_URI)")
    p.add_argument("--alias-poll-seconds", type=float, help="how often the alias is re-resolved (0 = never)")
    p.add_argument("--http-port", "--port", dest="http_port", type=int, help="REST port (default 8080)")
    p.add_argument("--grpc-port", type=int, help="gRPC port (default 8081; used with --enable-grpc)")
    p.add_argument(
        "--enable-grpc", action=argparse.BooleanOptionalAction, default=None, help="serve gRPC V2 too"
    )
    p.add_argument(
        "--online-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read the user's real-time row from the online store per request (default on)",
    )
    p.add_argument("--candidate-pool", type=int, help="candidates asked from the model before re-ranking")
    p.add_argument("--predict-threads", type=int, help="requests computed at once (thread pool, default 4)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    flat = {k: v for k, v in vars(args).items() if v is not None and k != "log_level"}
    if args.log_level:
        flat["telemetry"] = {"log_level": args.log_level}
    return flat


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags and settings, load the model, serve until stopped. Returns the exit status."""
    from pydantic import ValidationError

    from recsys_model_servers.settings import SERVICE_NAME, load_model_server_settings

    args = build_parser().parse_args(argv)
    overrides = _overrides(args)
    try:  # nested overrides (telemetry) merge with the environment's nested values
        settings = load_model_server_settings(**overrides)
    except ValidationError as exc:
        print(f"invalid model-server settings:\n{exc}", file=sys.stderr)  # noqa: T201 - CLI error
        return 2

    from recsys_platform.observability.logging import configure_logging

    service = settings.telemetry.service_name or SERVICE_NAME
    configure_logging(service, settings.telemetry.log_level, settings.telemetry.log_json)
    # kserve.model_server parses sys.argv on import: give it nothing of ours.
    sys.argv = [sys.argv[0]]
    from recsys_model_servers.app import build_server, run

    server = build_server(settings)
    if server is None:
        return 1
    return run(server)


if __name__ == "__main__":
    sys.exit(main())
