"""The command line: the Typer app (app.py) and one module per command group (fit.py; text.py: download and
embed). It parses, calls the runner or a pipeline stage, and prints; nothing scientific is computed here."""
