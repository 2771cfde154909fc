"""HTTP room of the platform provider: staff API and public register."""
