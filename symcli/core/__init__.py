"""What every layer shares and nothing else: user-facing errors, paths and atomic writes, byte sizes, numerical
conventions (the tolerances, stated once) and progress lines. Imports nothing of symcli outside core."""
