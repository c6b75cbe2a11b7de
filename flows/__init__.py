"""gammalake flows layer: the CLI and, later, Prefect flows."""
