"""Leaf helpers every package may import: the project-wide error base, atomic directory
publishing, reading format-checked JSON files, and the scores of model outputs that both training
and the runtime compute. Imports nothing from the project."""
