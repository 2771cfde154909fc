"""HTTP room of refget: the ``/ga4gh/refget`` and ``/ga4gh/seqcol`` Flask blueprints."""
