"""Floe serving on Ray Serve."""

__all__: list[str] = []
