"""HTTP room of the FHIR server: the Flask blueprint and its error mapping."""
