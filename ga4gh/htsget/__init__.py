"""GA4GH htsget 1.3 (hts-specs htsget.md): tickets for slices of BAM, CRAM, VCF and BCF."""
