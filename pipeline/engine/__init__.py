"""The exposure engine: option chain in, FlashAlpha-shaped payloads out."""
