"""FastAPI service: classification with uncertainty, motion search, index rebuilds."""
