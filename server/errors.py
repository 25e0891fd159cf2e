"""What the service refuses, as domain errors; ``server.app`` maps each to its HTTP status in one
table (``ERRORS``). The service raises these and never an HTTP exception.

Bad data (``SkeletonError``, ``RuntimeModelError``, ``IndexStoreError``: every ``VclError``) is 422;
the batcher's ``QueueFull`` (503 with Retry-After) and ``DeadlineExceeded`` (504) pass through as
they are.
"""

from __future__ import annotations

from common.errors import VclError


class ServiceError(VclError):
    """A request the service cannot answer as asked."""


class BadInput(ServiceError):
    """A request whose content does not fit the model or the settings (422)."""


class NotFound(ServiceError):
    """An item, job, index or data root that does not exist (404)."""


class Conflict(ServiceError):
    """A request the current state forbids: no classifier, a rebuild already running (409)."""


class NotReady(ServiceError):
    """The model is not loaded and warmed yet (503)."""
