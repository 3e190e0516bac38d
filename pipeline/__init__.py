"""Assembly, options and entry point of the ingestion pipeline (no text logic lives here)."""
