"""School servers' own directory identities: one read-only service account per server, and its secret."""
