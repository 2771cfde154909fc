"""GA4GH AAI / Passport broker, visa issuer and clearinghouse (GA4GH AAI 1.2, Passport 1.2)."""
