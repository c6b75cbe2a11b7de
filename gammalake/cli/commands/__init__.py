"""One module per command group; gammalake.cli.app registers them."""
