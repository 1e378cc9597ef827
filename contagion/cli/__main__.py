"""``python -m contagion.cli``."""

from contagion.cli import main

main()
