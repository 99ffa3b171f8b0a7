"""``python -m jaxjam.cli``: the ``jaxjam`` command."""

from jaxjam.cli.main import main

main()
