"""Recording real APIs into scenarios: captured exchanges in, a reviewable, redacted scenario out."""
