"""Pure intake logic: metadata rules, state machine, file formats, QC, Prüfbericht."""
