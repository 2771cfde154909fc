"""GA4GH Beacon v2 (ga4gh-beacon/beacon-v2 framework and default model v2.0.0) discovery over the
genome data center's variant index and the clinical data node's pseudonymised FHIR data."""
