"""`python -m pipeline` is `tidings`."""

from .cli import main

main()
