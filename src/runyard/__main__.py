"""``python -m runyard``: the same as the ``runyard`` command."""

from runyard.cli.main import main

main()
