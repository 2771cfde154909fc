"""The generated genomic files of the tests (the generator lives in ga4gh.catalogue.demo)."""

from ga4gh.catalogue.demo import CONTIGS, GenomicFiles, make_genomic_files

__all__ = ["CONTIGS", "GenomicFiles", "make_genomic_files"]
