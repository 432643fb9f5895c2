"""Allow ``python -m schulit``."""

from schulit.cli import main

main()
