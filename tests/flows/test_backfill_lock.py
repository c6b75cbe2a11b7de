"""Two backfills of the same symbol, source and method in one home never do the job twice."""

from __future__ import annotations

import fcntl
import threading
from datetime import date

from flows.backfill import run_backfill, symbol_lock
from flows.fanout import Threads
from flows.runs import RunSummary
from flows.settings import Settings
from warehouse import catalog
from warehouse.locks import flocked

START, END = date(2024, 1, 2), date(2024, 2, 29)


def test_two_identical_backfills_at_once_store_and_count_each_row_once(tmp_path):
    settings = Settings(home=tmp_path, synthetic_expiries=4, synthetic_strikes=21)
    together = threading.Barrier(2)
    summaries: list[RunSummary] = []

    def backfill() -> None:
        together.wait()  # why: both read what is stored before either has written anything
        summaries.append(run_backfill(settings, ["SPY"], "synthetic", START, END))

    threads = [threading.Thread(target=backfill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = catalog.query(tmp_path, "SELECT count(*) FROM snapshots").item()
    assert stored == 41  # the NYSE sessions of January and February 2024
    written = catalog.query(tmp_path, "SELECT rows_written FROM runs ORDER BY rows_written")
    assert written.get_column("rows_written").to_list()[0] == 0  # the second found all stored
    assert sorted(len(o.stored) for s in summaries for o in s.outcomes) == [0, 41]
    assert {s.status for s in summaries} == {"completed"}


def test_a_stop_ends_the_wait_for_another_backfill(tmp_path):
    settings = Settings(home=tmp_path, synthetic_expiries=4, synthetic_strikes=21)
    fanout = Threads(1)
    done: list[RunSummary] = []
    lock = symbol_lock(tmp_path, "synthetic", settings_method(settings), "SPY")
    with flocked(lock, fcntl.LOCK_EX):  # another backfill of SPY is running
        waiting = threading.Thread(
            target=lambda: done.append(
                run_backfill(settings, ["SPY"], "synthetic", START, END, fanout=fanout)
            )
        )
        waiting.start()
        fanout.stop.set()  # Ctrl-C while it waits
        waiting.join()
    fanout.close()
    assert done[0].cancelled and not done[0].outcomes
    assert not (tmp_path / "lake" / "snapshots").exists()


def settings_method(settings: Settings) -> str:
    """Return the method a synthetic backfill of `settings` stores under."""
    from flows.snapshot import pricing_of

    return pricing_of(settings).method_for(True)
