"""``Service`` knows no HTTP: it imports nothing from FastAPI or Starlette and refuses with domain
errors (``server.errors``), which only the app maps to status codes."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from server.errors import Conflict, NotFound, NotReady
from server.metrics import Metrics
from server.schemas import SearchIn
from server.service import Service
from server.sessions import session_threads
from server.settings import Settings
from tests.conftest import REPO
from tests.server.conftest import ServiceFiles


def test_the_service_imports_no_web_framework() -> None:
    tree = ast.parse((REPO / "server" / "service.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in ("fastapi", "starlette")}, imported
    code = "import sys, server.service; assert 'fastapi' not in sys.modules, 'fastapi imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def _service(tmp_path: Path) -> Service:
    return Service(Settings.model_construct(model_dir=str(tmp_path)), Metrics())


def test_domain_errors_before_the_model_is_loaded(tmp_path: Path) -> None:
    service = _service(tmp_path)
    for call in (service.require_model, service.model_info, service.index_info, service.data_files):
        with pytest.raises(NotReady, match="model not loaded yet"):
            call()
    with pytest.raises(NotReady):
        asyncio.run(service.search(SearchIn(id=1)))
    with pytest.raises(NotFound, match="no job 'nope'"):
        service.job("nope")


def test_domain_errors_of_a_loaded_service(tmp_path: Path) -> None:
    service = _service(tmp_path)
    service.ready, service.model = True, object()  # type: ignore[assignment]
    with pytest.raises(NotFound, match=r"no index configured \(VCL_INDEX_DIR\)"):
        service.require_index()
    with pytest.raises(NotFound, match="no data root configured"):
        service.data_files()
    with pytest.raises(NotFound, match="no index configured"):
        service.rebuild_folder("few")
    service.settings.index_dir = str(tmp_path / "index")
    with pytest.raises(NotFound, match="no index built yet"):
        service.require_index()
    release = threading.Event()
    job = service.jobs.start("rebuild", lambda stage: {"released": release.wait(30)})
    try:
        with pytest.raises(Conflict, match=rf"a rebuild is already running \(job {job.id}\)"):
            service.rebuild_folder("few")
    finally:
        release.set()
    finished = service.jobs.wait(job.id, timeout=30)
    assert finished is not None and finished.status == "succeeded"


def test_session_threads_share_the_cores_between_inference_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4})
    assert session_threads(Settings(model_dir="m", inference_workers=1)) == 0  # ONNX Runtime's own choice
    assert session_threads(Settings(model_dir="m", inference_workers=2)) == 2  # 5 cores // 2
    assert session_threads(Settings(model_dir="m", inference_workers=8)) == 1  # at least one each
    assert session_threads(Settings(model_dir="m", inference_workers=2, threads=3)) == 3  # VCL_THREADS wins


def test_two_workers_on_a_cpu_run_a_lone_batch_on_every_core_and_concurrent_ones_on_their_share(
    service_files: ServiceFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from server.sessions import Sessions

    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    sessions = Sessions(Settings(model_dir=str(service_files.model)))  # two workers by default
    assert sessions.shared is not None
    alone_options = sessions.alone.session.get_session_options()
    shared_options = sessions.shared.session.get_session_options()
    assert alone_options.intra_op_num_threads == 0 and shared_options.intra_op_num_threads == 1
    running = [1]
    run = sessions.runner(lambda: running[0])
    used: list[str] = []

    def recording(name: str, run: Any) -> Any:
        def wrapped(x: np.ndarray) -> Any:
            used.append(name)
            return run(x)

        return wrapped

    for name, model in (("alone", sessions.alone), ("shared", sessions.shared)):
        monkeypatch.setattr(model, "run", recording(name, model.run))
    x = np.random.default_rng(0).normal(size=(3, *sessions.alone.input_shape)).astype(np.float32)
    lone = run(x)
    running[0] = 2  # another batch is in the model
    beside = run(x)
    assert used == ["alone", "shared"]
    for name, value in lone.items():  # the same graph: the same answers, whatever the threads
        np.testing.assert_allclose(beside[name], value, rtol=1e-5, atol=1e-5)
    for settings in (  # one session: one worker, VCL_THREADS set
        Settings(model_dir=str(service_files.model), inference_workers=1),
        Settings(model_dir=str(service_files.model), threads=2),
    ):
        one = Sessions(settings)
        assert one.shared is None and one.runner(lambda: 2) == one.alone.run


@pytest.mark.parametrize("passed", [True, False])
def test_vcl_precision_serves_a_guarded_variant_and_refuses_a_lossy_one(
    service_files: ServiceFiles, tmp_path: Path, passed: bool
) -> None:
    """VCL_PRECISION=int8 serves a variant that passed its guard and refuses one that failed it;
    the default (auto) serves int8 where the guard passed and falls back to fp32 where it failed."""
    import json
    import shutil

    from runtime.model import RuntimeModelError

    model = tmp_path / "model"
    shutil.copytree(service_files.model, model)
    manifest = json.loads((model / "manifest.json").read_text())
    # an int8 entry naming the fp32 graph itself: what is under test is the service's policy
    manifest["variants"] = {
        "int8": {"file": "model.onnx", "sha256": manifest["model_sha256"], "guard": {"passed": passed}}
    }
    (model / "manifest.json").write_text(json.dumps(manifest))
    service = Service(Settings(model_dir=str(model), precision="int8"), Metrics())
    if passed:
        service.load()
        service.ready = True  # what start() sets once the batcher runs
        assert service.model_info().precision == "int8"
    else:
        with pytest.raises(RuntimeModelError, match=r"VCL_PRECISION=int8: .* failed its export guard"):
            service.load()
    default = Service(Settings(model_dir=str(model)), Metrics())
    assert default.settings.precision == "auto"
    default.load()
    default.ready = True
    assert default.model_info().precision == ("int8" if passed else "fp32")
    sessions = default.sessions
    assert sessions is not None
    assert {m.precision for m in (sessions.alone, sessions.shared) if m} == {default.model_info().precision}
