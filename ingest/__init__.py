"""The bso-ingest service: sources, Zendesk client, ledger, scheduler, CLI."""
