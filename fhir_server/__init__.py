"""fhir_server"""
