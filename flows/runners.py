"""Where a flow's tasks run: threads, or a Dask cluster."""

from __future__ import annotations

from typing import Any

from flows.settings import Settings


def task_runner(settings: Settings) -> Any:
    """Return the configured Prefect task runner: threads, or Dask at `dask_address`.

    A `dask_address` where no scheduler answers raises InputError (see probe_scheduler).
    """
    if settings.task_runner == "dask":
        import logging

        from prefect_dask import DaskTaskRunner

        # The local cluster narrates its start-up at INFO; the CLI shows its own progress.
        for name in ("distributed", "distributed.scheduler", "distributed.nanny"):
            logging.getLogger(name).setLevel(logging.WARNING)

        if settings.dask_address:
            from flows.fanout import probe_scheduler

            probe_scheduler(settings.dask_address)  # one line, not a failed flow run
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": settings.max_workers})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=settings.max_workers)
