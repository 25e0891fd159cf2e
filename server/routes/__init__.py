"""The HTTP routes by concern, each an ``APIRouter`` that ``server.app`` includes: ``health``
(livez, readyz, metrics), ``page`` (the web page), ``inference`` (model, data files, classify,
embed), ``search`` (index info, items, search) and ``admin`` (index mutation, rebuilds, jobs).

Handlers are thin: they take the parsed request and the typed dependencies of ``server.deps``,
call one ``Service`` method and return its response model. Errors are the service's to raise and
``server.app``'s to map to status codes.
"""
