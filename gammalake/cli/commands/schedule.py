"""`gammalake serve` and `gammalake deploy`: the scheduled runs, on a Prefect server.

`serve` registers the deployments and runs them in this process; `deploy --pool NAME`
registers them against a process work pool that `prefect worker start --pool NAME` serves.
Both refuse to start without a configured Prefect API (exit 2 with a hint).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gammalake.cli.options import settings_of

#: Run logs reach the Prefect API at INFO even when the console is quietened
#: (PREFECT_LOGGING_LEVEL=WARNING); the flow runs inherit this process's environment.
RUN_LOG_LEVELS = {
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
}


def _run_logs_at_info() -> None:
    """Let flow and task run loggers pass INFO (set before Prefect is imported)."""
    for name, level in RUN_LOG_LEVELS.items():
        os.environ.setdefault(name, level)


def serve(ctx: typer.Context) -> None:
    """Run the scheduled deployments in this process (needs a Prefect server; see README)."""
    from flows.deploy import require_api

    require_api()  # before the heavier imports: the refusal is immediate
    _run_logs_at_info()
    from flows.deploy import serve_deployments

    serve_deployments(settings_of(ctx), ctx.meta.get("config"))


def deploy(
    ctx: typer.Context,
    pool: Annotated[
        str,
        typer.Option(help="Process work pool to deploy to (created if missing)."),
    ] = "gammalake",
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for the Prefect server to answer (0: no wait)."),
    ] = 0,
) -> None:
    """Register the scheduled deployments with a process work pool for `prefect worker start`."""
    from flows.deploy import require_api

    require_api()
    from flows.deploy import deploy_to_pool

    done = deploy_to_pool(settings_of(ctx), pool, ctx.meta.get("config"), wait)
    made = "created" if done.created_pool else "existing"
    print(f"deployed to {made} process work pool {done.pool!r} at {done.api_url}:")
    for name in done.names:
        print(f"  {name}")
    print(f"run them with: prefect worker start --pool {done.pool}")
