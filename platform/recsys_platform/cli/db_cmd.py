"""``recsys db``: control-plane schema migrations."""

from __future__ import annotations

import typer

from recsys_platform.cli.common import console

app = typer.Typer(help="Control-plane database migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database in RECSYS_CONTROL_PLANE_DATABASE__URL to REVISION."""
    from recsys_platform.db import migrate
    from recsys_platform.db.engine import build_engine
    from recsys_platform.settings import load_control_plane_settings

    settings = load_control_plane_settings()
    engine = build_engine(settings.database.url)
    migrate.upgrade(engine, revision)
    console.print(f"database at {revision}: {engine.url.render_as_string()}")
