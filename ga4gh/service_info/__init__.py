"""GA4GH service-info 1.0 for the deployment and for each GA4GH API."""
