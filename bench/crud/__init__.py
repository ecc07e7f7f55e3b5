"""The CRUD baseline: a plain DRF ModelViewSet over a normalized product table (bench only)."""
