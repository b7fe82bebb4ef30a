"""``python -m certcheck.cli``."""

from certcheck.cli.app import main

main()
