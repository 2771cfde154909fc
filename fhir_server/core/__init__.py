"""FHIR R4 4.0.1 logic, pure: no web framework, no database."""
