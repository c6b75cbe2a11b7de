"""The `chains` source's folder scan: only regular files are chain files."""

from __future__ import annotations

import os
from datetime import date

from pipeline.sources.files import ChainFolderSource


def test_a_fifo_named_like_a_chain_file_is_skipped(tmp_path):
    os.mkfifo(tmp_path / "SPY_2024-03-15b.csv")  # sorts after the real file: picked before
    (tmp_path / "SPY_2024-03-15.csv").write_text("as_of\n")
    os.mkfifo(tmp_path / "QQQ_2024-03-15.csv")
    folder = ChainFolderSource(tmp_path)
    assert folder.file_for("SPY", date(2024, 3, 15)) == tmp_path / "SPY_2024-03-15.csv"
    assert folder.file_for("QQQ", date(2024, 3, 15)) is None  # never opened, so never blocks
