"""Leaf helpers every package may import: the project-wide error base, atomic directory
publishing, and reading format-checked JSON files. Imports nothing from the project."""
