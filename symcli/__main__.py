"""python -m symcli: the command line."""

from symcli.cli import main

main()
