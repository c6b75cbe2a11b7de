"""Sources of option chains and exposure payloads."""
