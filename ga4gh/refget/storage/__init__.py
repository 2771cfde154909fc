"""Adapters of the refget component: the SQL catalogue and the indexed FASTA reader."""
