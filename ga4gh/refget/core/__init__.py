"""Pure logic of refget 2.0.0 and Sequence Collections 1.0.0 (no framework, no SQL)."""
