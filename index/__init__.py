"""FAISS index of clip embeddings with SQLite metadata and versioned snapshots."""
