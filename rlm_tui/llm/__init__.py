"""Model clients. ``base`` is the interface the engine talks to; the rest are implementations."""
