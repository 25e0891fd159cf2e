"""A bounded loopback soak of ``vcl serve``: mixed classify / search / add / remove / rebuild traffic
for ``--minutes`` (default 10), printing requests, 5xx answers and the server's RSS over time.

The server runs as a subprocess over a tiny random-weight three-stream model (``server_load``'s),
an index of 26 synthetic clips and a data root with a rebuild folder, with mutation on. ``--clients``
threads send, each request drawn by weight: classify (JSON joints, 45%), search by clip path or by
item id (30%), add a clip by path (12%), remove a random known item (10%), start a rebuild of the
folder (3%; 409 while one runs is expected). Each line every ``--every`` seconds: elapsed time,
requests so far, per-status counts, 5xx so far, the server's RSS and peak RSS, index version and
count. At the end: totals, and RSS after warm-up (first report past ``--warmup`` s) against the
last. Exit status 1 when any 5xx was answered.

    python bench/soak.py                    # 10 minutes
    python bench/soak.py --minutes 1 --clients 2 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from server_load import build_tiny_model
from server_process import serve

ADMIN_KEY = "adm-soak-4b7e1c92d05f3a"
RSS_FIELDS = ("VmRSS", "VmHWM")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="sending threads (default 4)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between report lines")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before RSS counts as warm")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args()


def prepare(base: Path) -> tuple[Path, Path, Path, list[Any]]:
    """(model, index, data root, a few clips as JSON joints)."""
    from index.action_index import ActionIndex
    from index.build import from_files
    from runtime.model import OnnxModel
    from skeleton.readers.npz import write_npz
    from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip

    model_dir = base / "model"
    build_tiny_model(model_dir)
    root = base / "root"
    (root / "few").mkdir(parents=True)
    (root / "rb").mkdir()
    names = list(SYNTHETIC_CLASSES)
    for i in range(6):
        write_npz(root / "few" / f"clip{i}.npz", [synthetic_clip(i, seed=1)], names)
    write_npz(root / "rb" / "clips.npz", [synthetic_clip(i, seed=2) for i in range(20)], names)
    model = OnnxModel(model_dir)
    emb, items = from_files(model, [root / "few"], first_id=0)
    more_emb, more = from_files(model, [root / "rb"], first_id=len(items))
    import numpy as np

    ActionIndex.create(
        base / "index",
        np.concatenate([emb.embedding, more_emb.embedding]),
        items + more,
        None if emb.sigma is None or more_emb.sigma is None else np.concatenate([emb.sigma, more_emb.sigma]),
        model.manifest.model_sha256,
    )
    joints = [synthetic_clip(i, seed=7).joints[:, :60].tolist() for i in range(4)]
    return model_dir, base / "index", root, joints


class Traffic:
    """The shared counters and the known item ids of one soak."""

    def __init__(self, port: int, joints: list[Any]) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.joints = joints
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.errors: list[str] = []
        self.ids: list[int] = list(range(26))
        self.stop = threading.Event()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("X-API-Key", ADMIN_KEY)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw or b"null")
            except ValueError:
                return err.code, raw[:200].decode(errors="replace")

    def one(self, rng: random.Random) -> None:
        kind = rng.choices(["classify", "search", "add", "remove", "rebuild"], [45, 30, 12, 10, 3])[0]
        if kind == "classify":
            status, body = self.call("POST", "/v1/classify", {"clips": [{"joints": rng.choice(self.joints)}]})
        elif kind == "search":
            with self.lock:
                known = rng.choice(self.ids) if self.ids and rng.random() < 0.5 else None
            query = (
                {"id": known} if known is not None else {"clip": {"path": f"few/clip{rng.randrange(6)}.npz"}}
            )
            status, body = self.call("POST", "/v1/search", {**query, "k": 5})
        elif kind == "add":
            status, body = self.call(
                "POST", "/v1/index/items", {"clips": [{"path": f"few/clip{rng.randrange(6)}.npz"}]}
            )
            if status == 201:
                with self.lock:
                    self.ids.extend(body["ids"])
        elif kind == "remove":
            with self.lock:
                target = self.ids.pop(rng.randrange(len(self.ids))) if len(self.ids) > 10 else None
            if target is None:
                return
            status, body = self.call("DELETE", f"/v1/index/items/{target}")
        else:
            status, body = self.call("POST", "/v1/index/rebuild", {"folder": "rb"})
            if status == 202:  # rebuilt items take fresh ids; learn them from a search
                self._learn_ids_after(body["status_url"])
        with self.lock:
            self.statuses[status] += 1
            self.by_kind[kind] += 1
            if status >= 500:
                self.errors.append(f"{kind}: {status} {str(body)[:200]}")

    def _learn_ids_after(self, status_url: str) -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not self.stop.is_set():
            status, job = self.call("GET", status_url)
            if status != 200 or job["status"] not in ("queued", "running"):
                break
            time.sleep(0.2)
        status, found = self.call("POST", "/v1/search", {"clip": {"path": "rb/clips.npz"}, "k": 1000})
        if status == 422:  # 20 clips in one file: search wants one; use an indexed one instead
            status, found = self.call("POST", "/v1/search", {"clip": {"path": "few/clip0.npz"}, "k": 1000})
        if status == 200:
            with self.lock:
                self.ids = [n["id"] for n in found["neighbours"]]

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            try:
                self.one(rng)
            except OSError as err:  # a dropped connection is a failure too
                with self.lock:
                    self.statuses[0] += 1
                    self.errors.append(f"connection: {err}")


def memory(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name = line.split(":")[0]
        if name in RSS_FIELDS:
            values[name] = int(line.split()[1]) / 1024
    return values


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="vcl-soak-") as tmp:
        base = Path(tmp)
        print("preparing a tiny model, an index of 26 clips and a data root ...", flush=True)
        model_dir, index_dir, root, joints = prepare(base)
        env = {
            "VCL_INDEX_DIR": str(index_dir),
            "VCL_DATA_ROOT": str(root),
            "VCL_ALLOW_MUTATION": "true",
            "VCL_ADMIN_KEY": ADMIN_KEY,
        }
        with serve(model_dir, env, base / "serve.log", 180) as (port, pid):
            traffic = Traffic(port, joints)
            threads = [
                threading.Thread(target=traffic.run, args=(i,), daemon=True) for i in range(args.clients)
            ]
            start = time.monotonic()
            for thread in threads:
                thread.start()
            reports: list[dict[str, Any]] = []
            end = start + args.minutes * 60
            print(
                f"{'t s':>6} {'requests':>9} {'5xx':>5} {'RSS MB':>7} {'peak MB':>8}  version count  statuses"
            )
            while True:
                now = time.monotonic()
                time.sleep(max(0.0, min(args.every, end - now)))
                elapsed = time.monotonic() - start
                with traffic.lock:
                    statuses = dict(sorted(traffic.statuses.items()))
                _, info = traffic.call("GET", "/v1/index")
                mem = memory(pid)
                report = {
                    "t_s": round(elapsed, 1),
                    "requests": sum(statuses.values()),
                    "5xx": sum(n for s, n in statuses.items() if s >= 500 or s == 0),
                    "rss_mb": round(mem["VmRSS"], 1),
                    "peak_mb": round(mem["VmHWM"], 1),
                    "version": info.get("version") if isinstance(info, dict) else None,
                    "count": info.get("count") if isinstance(info, dict) else None,
                    "statuses": statuses,
                }
                reports.append(report)
                line = f"{report['t_s']:>6.0f} {report['requests']:>9} {report['5xx']:>5} "
                line += f"{report['rss_mb']:>7.1f} {report['peak_mb']:>8.1f}  {report['version']} "
                print(f"{line}{report['count']:>5}  {statuses}", flush=True)
                if time.monotonic() >= end:
                    break
            traffic.stop.set()
            for thread in threads:
                thread.join(timeout=120)
    warm = [r for r in reports if r["t_s"] >= args.warmup] or reports[-1:]
    last = reports[-1]
    summary = {
        "minutes": args.minutes,
        "clients": args.clients,
        "requests": last["requests"],
        "5xx": last["5xx"],
        "by_kind": dict(traffic.by_kind),
        "statuses": last["statuses"],
        "rss_after_warmup_mb": warm[0]["rss_mb"],
        "rss_last_mb": last["rss_mb"],
        "peak_mb": last["peak_mb"],
        "errors": traffic.errors[:20],
        "reports": reports,
    }
    print(
        f"{summary['requests']} requests in {args.minutes:g} min ({dict(traffic.by_kind)}), "
        f"{summary['5xx']} 5xx; RSS {summary['rss_after_warmup_mb']} MB after warm-up, "
        f"{summary['rss_last_mb']} MB at the end (peak {summary['peak_mb']} MB)"
    )
    for error in traffic.errors[:5]:
        print("  ", error)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if summary["5xx"] else 0


if __name__ == "__main__":
    sys.exit(main())
