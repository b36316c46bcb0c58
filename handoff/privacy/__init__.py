"""Privacy: secrets hidden at intake, retention, erasure and export across every store, and the
audit log (README, "Privacy")."""
