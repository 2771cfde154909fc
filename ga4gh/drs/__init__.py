"""GA4GH Data Repository Service (DRS) 1.4 for catalogued genomic files."""
