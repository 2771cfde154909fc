"""Pure catalogue logic: the object model, identifiers and file-format recognition."""
