"""The project-wide exception base.

Every error VCL raises on purpose derives from :class:`VclError`, so that the CLI can turn any of
them into one readable line and the server into a 4xx answer. Data errors (files, layouts,
datasets) derive from ``skeleton.errors.SkeletonError``, itself a ``VclError``; configuration,
training, checkpoint, export, runtime and index errors derive from ``VclError`` directly.
Messages name the file, field, expected and actual value.
"""

from __future__ import annotations


class VclError(ValueError):
    """Base of every error VCL raises deliberately (a ``ValueError`` for callers that catch that)."""
