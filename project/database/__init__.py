"""Django's PostgreSQL backend with bounded waits (see deadline.py); ENGINE "project.database"."""
