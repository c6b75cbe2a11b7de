"""gammalake warehouse layer."""
