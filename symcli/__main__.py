"""python -m symcli: the command line."""

from symcli.cli.app import main

main()
