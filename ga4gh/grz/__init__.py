"""Genome data center (GRZ) intake of Modellvorhaben Genomsequenzierung submissions (§ 64e SGB V).

Submissions arrive in BfArM's grz-cli layout (``metadata/metadata.json`` plus Crypt4GH-encrypted
``files/``); the GRZ validates them with BfArM's grz-pydantic-models, registers aligned reads and
variant calls in the genomic catalogue under the donor's dataset pseudonym, reports a Prüfbericht
to the platform provider and tracks every submission in a persistent state machine.
"""
