"""Backup and restore of the configured database: `grid-dispatch backup` / `grid-dispatch restore`."""
