"""Pure intake logic: metadata rules, the submission state machine, file formats, QC, Prüfbericht."""
