"""Subcommands of `bso-ingest`."""
