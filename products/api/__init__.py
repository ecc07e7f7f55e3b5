"""The Command API: one POST endpoint per command, mapped onto products.handlers."""
