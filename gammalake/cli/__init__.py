"""The `gammalake` command: one module per command group under `commands/`."""

from __future__ import annotations


def main() -> None:
    """Run the `gammalake` command line (see gammalake.cli.app)."""
    from gammalake.cli.app import main as run

    run()
