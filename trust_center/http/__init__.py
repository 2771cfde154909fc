"""HTTP room of the trust center: the /trust-center REST API."""
