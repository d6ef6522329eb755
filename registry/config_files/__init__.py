"""Floe's YAML configs: a hardened loader that keeps every key's line, and validation into
pydantic models whose errors name that line, the allowed keys and a close match."""
