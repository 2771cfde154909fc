"""Pure logic of the passport broker and clearinghouse (no web framework, no database)."""
