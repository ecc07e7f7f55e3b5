"""The product aggregate as plain Python: commands, events, rules and decisions.

Nothing here imports Django, DRF or Celery; the write side's I/O lives in products.handlers.
"""
