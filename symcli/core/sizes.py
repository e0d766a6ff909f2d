"""Memory sizes as people write them ('4GB', '500MB') and as symcli prints them."""

from __future__ import annotations

import re

from symcli.core.errors import UserError


def parse_bytes(text: str) -> float:
    """'4GB', '500MB', '2.5G' or a plain number of bytes (> 0); UserError otherwise."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)[bB]?\s*", str(text))
    if not m:
        raise UserError(f"cannot read memory size {text!r}; write e.g. 4GB or 500MB")
    value = float(m.group(1)) * 1000 ** " KMGT".index(m.group(2).upper() or " ")
    if value <= 0:
        raise UserError(f"memory size {text!r} must be above zero; write e.g. 4GB or 500MB")
    return value


def human_bytes(n: float) -> str:
    """1.5e9 -> '1.5 GB', 2e6 -> '2 MB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"
