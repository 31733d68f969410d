"""Alembic migrations of the ledger's schema (see ingest/migrate.py)."""
