"""``python -m maturity``: the same as the ``maturity`` command."""

from maturity.cli import main

main()
