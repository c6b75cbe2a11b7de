"""gammalake backtest layer."""
