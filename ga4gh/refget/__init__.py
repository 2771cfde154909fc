"""GA4GH refget: Refget Sequences 2.0.0 and Sequence Collections 1.0.0.

``core/`` holds the standards' logic (identifiers, sub-sequence ranges, sequence collection
digests and comparison), ``storage/`` the SQL catalogue and the indexed FASTA reader,
``http/`` the two Flask blueprints (``/ga4gh/refget`` and ``/ga4gh/seqcol``). Other components
register references through :class:`ga4gh.refget.ports.SequenceRegistry`.
"""
