"""Catalogue of genomic objects (reads, variants, references) of the genome data center.

Public API for other components: :mod:`ga4gh.catalogue.ports` (``GenomicCatalogue``,
``ObjectStore``, ``ReadPolicy``) and :mod:`ga4gh.catalogue.core.model` (``GenomicObject``).
"""
