"""Adapters of the GRZ intake: SQL state, inbox folders and S3, Crypt4GH streaming, pysam."""
