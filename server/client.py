"""``VclClient``: a small client for the HTTP API (``server.app``), standard library only.

It imports neither the server nor numpy. Clips whose joints are float numpy arrays go as one
``.npy`` body to the ``/npy`` routes (the binary fast path; ``encode_npy`` writes the format
itself): one clip, or a batch when every clip has the same shape, dtype, layout, channels and
name. Other clips (lists, paths, mixed shapes), and every clip with ``binary=False``, go as JSON,
arrays through their ``tolist()``. Every method returns the parsed JSON answer; any non-2xx answer
raises ``ApiError(status, detail)`` with the server's ``detail`` made readable, and a server that
cannot be reached (refused, timed out) raises ``ApiError`` with status 0 naming the URL. The API
key travels only in the ``X-API-Key`` header, never in an error or a repr.

    client = VclClient("http://127.0.0.1:8000", api_key="...")
    client.classify(files=["S001C001P001R001A011.skeleton"], top_k=3)["results"][0]["label"]
"""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_DETAIL_CHARS = 500

Fields = list[tuple[str, str]]
Uploads = list[tuple[str, Path]]


class ApiError(Exception):
    """A non-2xx answer (``status`` its HTTP code) or an unreachable server (``status`` 0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.detail}"


def render_detail(detail: Any) -> str:
    """The ``detail`` of an error body as one line: pydantic error lists become ``loc: msg; ...``."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and all(isinstance(e, dict) and "msg" in e for e in detail):
        parts = []
        for error in detail:
            loc = ".".join(str(p) for p in error.get("loc") or [])
            parts.append(f"{loc}: {error['msg']}" if loc else str(error["msg"]))
        return "; ".join(parts)
    return json.dumps(detail)


def _plain(value: Any) -> Any:
    """JSON-ready data: numpy arrays/scalars through ``tolist()``, NaN and infinities as null."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _dumps(body: Any) -> bytes:
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError):  # numpy values or non-finite floats somewhere: convert, then retry
        return json.dumps(_plain(body), allow_nan=False).encode()


def _clip_json(clip: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(clip, dict):
        raise TypeError(f"{where}: expected a dict with 'joints' or 'path', got {type(clip).__name__}")
    out = dict(clip)
    if hasattr(out.get("joints"), "tolist"):
        out["joints"] = out["joints"].tolist()
    return out


NPY_MAGIC = b"\x93NUMPY\x01\x00"  # format version 1.0
NPY_DTYPES = frozenset({"<f2", "<f4", "<f8", ">f2", ">f4", ">f8"})
CLIP_OPTIONS = ("layout", "channels", "name")


def _float_array(value: Any) -> bool:
    """Whether ``value`` is a numpy float16/32/64 array (duck-typed: numpy is not imported)."""
    dtype = getattr(value, "dtype", None)
    return hasattr(value, "tobytes") and hasattr(value, "shape") and getattr(dtype, "str", "") in NPY_DTYPES


def encode_npy(shape: Sequence[int], dtype: str, data: bytes) -> bytes:
    """The ``.npy`` (version 1.0) of C-ordered ``data`` of ``shape`` and ``dtype`` (e.g. ``<f4``)."""
    dims = ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "")
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({dims}), }}"
    pad = -(len(NPY_MAGIC) + 2 + len(header) + 1) % 64  # the data starts 64-byte aligned
    text = (header + " " * pad + "\n").encode("latin1")
    return NPY_MAGIC + len(text).to_bytes(2, "little") + text + data


def npy_clips(clips: Sequence[dict[str, Any]]) -> tuple[bytes, dict[str, str]] | None:
    """One ``.npy`` body of the clips' joints ((M, T, V, C) one clip, (N, M, T, V, C) a batch) and
    their shared options as query values; None when they do not make one array (a path, a list,
    shapes, dtypes or options that differ)."""
    if not clips or not all(isinstance(c, dict) and _float_array(c.get("joints")) for c in clips):
        return None
    first = clips[0]
    if any(set(c) - {"joints", *CLIP_OPTIONS} for c in clips):
        return None
    if any(_signature(c) != _signature(first) for c in clips[1:]):
        return None
    arrays = [c["joints"] for c in clips]
    shape = tuple(arrays[0].shape) if len(arrays) == 1 else (len(arrays), *arrays[0].shape)
    data = b"".join(a.tobytes(order="C") for a in arrays)
    options = {key: str(first[key]) for key in CLIP_OPTIONS if first.get(key) is not None}
    return encode_npy(shape, arrays[0].dtype.str, data), options


def _signature(clip: dict[str, Any]) -> tuple[Any, ...]:
    """What clips of one batch share: the joints' shape and dtype, the options."""
    joints = clip["joints"]
    return (tuple(joints.shape), joints.dtype.str, *(clip.get(key) for key in CLIP_OPTIONS))


def _quote(name: str) -> str:
    """A multipart header parameter value: quotes, backslashes and line breaks escaped."""
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode_multipart(fields: Fields, uploads: Uploads) -> tuple[bytes, str]:
    """``multipart/form-data`` of text ``fields`` and local files; returns (body, content type)."""
    boundary = f"vcl-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, value in fields:
        chunks += [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode(),
            value.encode(),
            b"\r\n",
        ]
    for name, path in uploads:
        data = path.read_bytes()
        chunks += [
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                f'filename="{_quote(path.name)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode(),
            data,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _one_of(where: str, **given: Any) -> str:
    names = [k for k, v in given.items() if v is not None]
    if len(names) != 1:
        raise ValueError(f"{where}: give exactly one of {', '.join(given)}, got {', '.join(names) or 'none'}")
    return names[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects become errors: following one would send the API key wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class VclClient:
    """The HTTP API of one server. ``timeout``: seconds per request (connect and each read);
    ``binary``: send numpy clips as ``.npy`` bodies (default) rather than JSON."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 30.0,
        binary: bool = True,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {base_url!r}: expected http://host[:port][/prefix]")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.binary = binary  # numpy clips as .npy bodies (the /npy routes); False: always JSON
        self._api_key = api_key
        # a proxy from the environment must not swallow requests to this machine
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if parts.hostname in LOOPBACK_HOSTS:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"VclClient({self.base_url!r}, api_key={'set' if self._api_key else None})"

    # ------------------------------------------------------------------ transport
    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: tuple[Fields, Uploads] | None = None,
        npy: bytes | None = None,
        accept: Iterable[int] = (),
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) of one request; non-2xx raises unless in ``accept``."""
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if npy is not None:
            data, headers["Content-Type"] = npy, "application/x-npy"
        elif form is not None:
            data, headers["Content-Type"] = encode_multipart(*form)
        elif body is not None:
            data, headers["Content-Type"] = _dumps(body), "application/json"
        if self._api_key:
            headers["X-API-Key"] = self._api_key
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            try:
                payload = err.read()
            finally:
                err.close()
            if err.code in accept:
                return err.code, payload, err.headers.get("Content-Type", "")
            raise ApiError(err.code, self._detail(err.code, err.reason, payload)) from None
        except urllib.error.URLError as err:
            reason = err.reason
            timed_out = isinstance(reason, TimeoutError)
            what = f"no answer within {self.timeout:g} s" if timed_out else f"cannot connect ({reason})"
            raise ApiError(0, f"{method} {url}: {what}") from None
        except TimeoutError:
            raise ApiError(0, f"{method} {url}: no answer within {self.timeout:g} s") from None
        except (ConnectionError, http.client.HTTPException) as err:
            raise ApiError(0, f"{method} {url}: connection failed ({type(err).__name__}: {err})") from None

    @staticmethod
    def _detail(status: int, reason: str, payload: bytes) -> str:
        try:
            parsed = json.loads(payload)
        except ValueError:
            text = payload.decode(errors="replace").strip()
            return text[:MAX_DETAIL_CHARS] or str(reason or f"status {status}")
        if isinstance(parsed, dict) and "detail" in parsed:
            return render_detail(parsed["detail"])
        return json.dumps(parsed)[:MAX_DETAIL_CHARS]

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        status, payload, _ = self._send(method, path, **kwargs)
        try:
            parsed = json.loads(payload)
        except ValueError:
            raise ApiError(status, f"{method} {self.base_url + path}: the answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise ApiError(status, f"{method} {self.base_url + path}: expected a JSON object")
        return parsed

    @staticmethod
    def _uploads(field: str, files: Sequence[str | Path]) -> Uploads:
        return [(field, Path(f)) for f in files]

    def _npy(self, path: str, clips: Sequence[dict[str, Any]], **query: Any) -> dict[str, Any] | None:
        """The answer of ``path``/npy for ``clips`` as one ``.npy`` body; None (nothing sent) when
        binary bodies are off or the clips do not make one array."""
        body = npy_clips(clips) if self.binary else None
        if body is None:
            return None
        data, options = body
        given = {k: v for k, v in query.items() if v is not None}
        values = {**options, **{k: _flag(v) if isinstance(v, bool) else str(v) for k, v in given.items()}}
        return self._json("POST", f"{path}/npy?{urllib.parse.urlencode(values)}", npy=data)

    # ------------------------------------------------------------------ read endpoints
    def health(self) -> dict[str, Any]:
        """``GET /readyz``: {"status": "ready"}, or {"status": "loading"} while the model loads."""
        return self._json("GET", "/readyz", accept=(503,))

    def model(self) -> dict[str, Any]:
        return self._json("GET", "/v1/model")

    def index(self) -> dict[str, Any]:
        return self._json("GET", "/v1/index")

    def item(self, id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/index/items/{int(id)}")

    def metrics(self) -> str:
        """``GET /metrics``: the Prometheus text."""
        return self._send("GET", "/metrics")[1].decode()

    # ------------------------------------------------------------------ inference
    def classify(
        self,
        clips: Sequence[dict[str, Any]] | None = None,
        files: Sequence[str | Path] | None = None,
        top_k: int = 5,
        preview: bool = False,
        per_person: bool = False,
        by: str = "model",
        explain: bool = False,
    ) -> dict[str, Any]:
        """Labels with uncertainty for JSON clips ({"joints", "layout", "channels", "name"} or
        {"path"}) or files; ``per_person``: one result per person (track) with its frame span;
        ``by``: ``model``, ``index`` or ``both`` (enrolment, docs/index.md); ``explain``: which
        joints mattered."""
        options = {"top_k": top_k, "preview": preview, "per_person": per_person, "by": by, "explain": explain}
        if _one_of("classify", clips=clips, files=files) == "clips":
            fast = self._npy("/v1/classify", clips or [], **options)
            if fast is not None:
                return fast
            body = {"clips": [_clip_json(c, f"clips[{i}]") for i, c in enumerate(clips or [])], **options}
            return self._json("POST", "/v1/classify", body=body)
        fields = [(k, _flag(v) if isinstance(v, bool) else str(v)) for k, v in options.items()]
        return self._json("POST", "/v1/classify/files", form=(fields, self._uploads("files", files or [])))

    def embed(
        self, clips: Sequence[dict[str, Any]] | None = None, files: Sequence[str | Path] | None = None
    ) -> dict[str, Any]:
        """Fused embedding (and mu, sigma per stream) of each clip."""
        if _one_of("embed", clips=clips, files=files) == "clips":
            fast = self._npy("/v1/embed", clips or [])
            if fast is not None:
                return fast
            body = {"clips": [_clip_json(c, f"clips[{i}]") for i, c in enumerate(clips or [])]}
            return self._json("POST", "/v1/embed", body=body)
        return self._json("POST", "/v1/embed/files", form=([], self._uploads("files", files or [])))

    def search(
        self,
        clip: dict[str, Any] | None = None,
        file: str | Path | None = None,
        embedding: Any = None,
        id: int | None = None,
        k: int = 10,
        label: str | None = None,
        uncertainty_aware: bool = False,
        preview: bool = False,
    ) -> dict[str, Any]:
        """Neighbours of one clip, clip file, embedding or indexed item (exactly one of them)."""
        given = _one_of("search", clip=clip, file=file, embedding=embedding, id=id)
        if given == "file":
            assert file is not None
            fields = [
                ("k", str(k)),
                ("uncertainty_aware", _flag(uncertainty_aware)),
                ("preview", _flag(preview)),
            ]
            if label is not None:
                fields.append(("label", label))
            return self._json("POST", "/v1/search/files", form=(fields, [("file", Path(file))]))
        body: dict[str, Any] = {
            "k": k,
            "label": label,
            "uncertainty_aware": uncertainty_aware,
            "preview": preview,
        }
        if clip is not None:
            options = {"k": k, "label": label, "uncertainty_aware": uncertainty_aware, "preview": preview}
            fast = self._npy("/v1/search", [clip], **options)
            if fast is not None:
                return fast
            body["clip"] = _clip_json(clip, "clip")
        elif embedding is not None:
            body["embedding"] = embedding.tolist() if hasattr(embedding, "tolist") else list(embedding)
        else:
            body["id"] = id
        return self._json("POST", "/v1/search", body=body)

    # ------------------------------------------------------------------ index mutation (admin key)
    def add_items(
        self,
        clips: Sequence[dict[str, Any]] | None = None,
        files: Sequence[str | Path] | None = None,
        label: str | None = None,
    ) -> dict[str, Any]:
        """Add clips (each may carry "label" and "metadata"; ``label`` fills in missing labels) or
        files (all labelled ``label``); returns {"ids": [...], "version": ...}."""
        if _one_of("add_items", clips=clips, files=files) == "clips":
            items = []
            for i, c in enumerate(clips or []):
                item = _clip_json(c, f"clips[{i}]")
                if label is not None and item.get("label") is None:
                    item["label"] = label
                items.append(item)
            return self._json("POST", "/v1/index/items", body={"clips": items})
        fields = [("label", label)] if label is not None else []
        return self._json("POST", "/v1/index/items/files", form=(fields, self._uploads("files", files or [])))

    def remove_item(self, id: int) -> dict[str, Any]:
        return self._json("DELETE", f"/v1/index/items/{int(id)}")

    def rebuild(self, folder: str | None = None, archive: str | Path | None = None) -> dict[str, Any]:
        """Start a rebuild from a folder under the server's data root or a local .zip/.tar[.gz];
        returns {"job": {...}, "status_url": ...} at once (poll with ``job`` or ``wait_job``)."""
        if _one_of("rebuild", folder=folder, archive=archive) == "folder":
            return self._json("POST", "/v1/index/rebuild", body={"folder": folder})
        return self._json("POST", "/v1/index/rebuild/archive", form=([], [("archive", Path(archive or ""))]))

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/index/jobs/{urllib.parse.quote(job_id, safe='')}")

    def wait_job(self, job_id: str, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
        """Poll until the job has succeeded or failed; its record. ApiError(0, ...) after ``timeout`` s."""
        end = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.get("status") in ("succeeded", "failed"):
                return job
            if time.monotonic() >= end:
                raise ApiError(
                    0,
                    f"job {job_id} still {job.get('status')} (stage {job.get('stage')}) after {timeout:g} s",
                )
            time.sleep(max(0.0, min(poll, end - time.monotonic())))


__all__ = ["ApiError", "VclClient", "encode_multipart", "encode_npy", "npy_clips", "render_detail"]
