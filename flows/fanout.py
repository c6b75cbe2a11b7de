"""Where a flow's units of work run: threads here, a Dask cluster, or Prefect tasks.

A flow body hands each unit (one symbol, or one symbol's run of months) to a Fanout and waits
for the results. The body never knows which one it has, so one body serves the quick local
run, a Dask cluster and a Prefect run alike. Each Fanout also gives

- a stop flag the units check between sessions (SIGINT/SIGTERM set it; on Dask it is a
  cluster-wide `distributed.Event`, so workers in other processes see it), and
- a progress hook the units can call from wherever they run (on Dask it goes through a
  `distributed.Queue` that a thread here drains into the caller's hook).
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from pipeline.errors import InputError

T = TypeVar("T")
#: Seconds a scheduler has to accept a TCP connection before the run is refused. A refused
#: connection answers at once; this bounds an address that drops the packets.
PROBE_SECONDS = 5.0
#: Advance a progress bar: (symbol, sessions done).
Progress = Callable[[str, int], None]


class StopFlag(Protocol):
    """Set when the run must stop: units finish the session in hand and return."""

    def is_set(self) -> bool:
        """Return True once a stop was asked for."""
        ...

    def set(self) -> None:
        """Ask every unit to stop."""
        ...


class Fanout(Protocol):
    """Runs units of work and gives back futures (`.result()` returns or raises)."""

    stop: StopFlag

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Any:
        """Start `fn(*args)`; return a future."""
        ...

    def relay(self, hook: Progress | None) -> Progress | None:
        """Return a progress hook the units can call where they run (None: no progress)."""
        ...

    def close(self) -> None:
        """Release workers and threads."""
        ...


class Threads:
    """Units run in this process, `max_workers` at a time."""

    def __init__(self, max_workers: int) -> None:
        """Run at most `max_workers` units at once."""
        self.pool = ThreadPoolExecutor(max(1, max_workers), thread_name_prefix="gammalake")
        self.stop: StopFlag = threading.Event()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Start `fn(*args)` in a worker thread; return its future."""
        return self.pool.submit(fn, *args)

    def relay(self, hook: Progress | None) -> Progress | None:
        """Return `hook` itself: the units run here."""
        return hook

    def close(self) -> None:
        """Stop the threads once their units are done (a stopped unit returns quickly)."""
        self.pool.shutdown(wait=True)


class _QueueProgress:
    """A picklable progress hook: puts (symbol, n) on a cluster-wide queue."""

    def __init__(self, name: str) -> None:
        """Put into the `distributed.Queue` called `name`."""
        self.name = name

    def __call__(self, symbol: str, n: int) -> None:
        """Report `n` sessions of `symbol` done."""
        from distributed import Queue

        Queue(self.name).put((symbol, n))


def probe_scheduler(address: str, seconds: float = PROBE_SECONDS) -> None:
    """Refuse a Dask scheduler address where nothing accepts a connection (one InputError).

    distributed's Client retries a refused connection until its own timeout and then raises a
    chain of three errors; a plain socket answers within `seconds`. Only tcp:// and tls://
    addresses (the default scheme) are probed: others are left to distributed.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise InputError(f"Dask scheduler address {address!r} cannot be read: {exc}") from None
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InputError(
            f"no Dask scheduler answers at {address} ({why.lower()}); start one "
            f"(`dask scheduler`) or leave out --dask / dask_address"
        ) from None


def _connect(client: Callable[..., Any], address: str) -> Any:
    """Return a Dask client of the scheduler at `address`, or one InputError saying why not.

    Something that accepts a connection but is no Dask scheduler makes distributed fail in odd
    ways (a 3 EiB allocation from reading another protocol's bytes as a frame length).
    """
    try:
        return client(address, timeout="30s")
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"no Dask scheduler at {address}: {reason[:200]}; check --dask / dask_address"
        ) from None


class Dask:
    """Units run on a Dask cluster: the one at `address`, or a local one of `n_workers`.

    The home must be an absolute path before units are sent (workers have their own working
    directory); Settings resolves it so.
    """

    def __init__(self, address: str | None, n_workers: int) -> None:
        """Connect to the scheduler at `address`, or start a local cluster.

        An address where no scheduler answers is refused at once (InputError, one line).
        """
        import logging

        from distributed import Client, Event

        # The local cluster narrates its start-up at INFO; the CLI shows its own progress.
        for name in ("distributed", "distributed.scheduler", "distributed.nanny"):
            logging.getLogger(name).setLevel(logging.WARNING)
        if address:
            probe_scheduler(address)
            self.client = _connect(Client, address)
        else:
            self.client = Client(n_workers=max(1, n_workers), threads_per_worker=1)
        self.stop: StopFlag = Event(f"gammalake-stop-{uuid.uuid4().hex}", client=self.client)
        self._drains: list[threading.Thread] = []
        self._closing = threading.Event()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Any:
        """Send `fn(*args)` to the cluster; return its future (never cached: pure=False)."""
        return self.client.submit(fn, *args, pure=False)

    def relay(self, hook: Progress | None) -> Progress | None:
        """Return a hook that workers call; a thread here passes what they report to `hook`."""
        if hook is None:
            return None
        from distributed import Queue

        name = f"gammalake-progress-{uuid.uuid4().hex}"
        queue = Queue(name, client=self.client)
        drain = threading.Thread(target=self._drain, args=(queue, hook), daemon=True)
        drain.start()
        self._drains.append(drain)
        return _QueueProgress(name)

    def _drain(self, queue: Any, hook: Progress) -> None:
        """Pass reported progress to `hook` until the fanout closes and the queue is empty.

        Takes what is waiting every 0.2 s (`batch=True` never blocks): a blocking get with a
        timeout makes the scheduler log a traceback for every empty wait.
        """
        while True:
            closing = self._closing.wait(0.2)
            try:
                waiting = queue.get(batch=True)
            except Exception:  # the cluster going away: nothing more will be reported
                return
            for symbol, n in waiting:
                hook(symbol, n)
            if closing:
                return  # every unit is done and what they reported is passed on

    def close(self) -> None:
        """Stop draining progress and disconnect (a local cluster shuts down)."""
        self._closing.set()
        for drain in self._drains:
            drain.join(timeout=5)
        self.client.close()
