"""Pure htsget logic: index parsing, record scanning and ticket computation (no web, no SQL)."""
