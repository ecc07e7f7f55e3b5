"""The Query API: read-only views over the read models, and staff views of the log and projections."""
