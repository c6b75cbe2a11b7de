"""`gammalake serve`: the scheduled deployments."""

from __future__ import annotations

import typer

from gammalake.cli.options import settings_of


def serve(ctx: typer.Context) -> None:
    """Register the scheduled deployments with a Prefect server and run them (see README)."""
    from flows.deploy import serve_deployments

    serve_deployments(settings_of(ctx))
