"""``python -m registry.cli``: the same as the ``floe`` script."""

from registry.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
