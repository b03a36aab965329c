"""Small helpers shared by commands: Ctrl-C handling and per-stage timing statistics."""
