"""Statement and branch coverage of executorch's Arm backend, as a campaign metric.

Measured with coverage.py inside the workers, not around the campaign: a warm worker starts
a tracer before it imports executorch (the import-time statements are saved once, after
warm-up), and every forked case child restarts it with an empty data set and saves its own
data file before it reports its outcome. The controller folds finished data files into the
campaign's combined database as results arrive, so "statements reached" grows in
``stats.json`` with the campaign; ``armfuzz coverage CAMPAIGN`` writes coverage.py's HTML and
JSON reports, the totals per subpackage, and the passes and operator visitors never entered.

Only ``executorch/backends/arm`` is measured, without its ``test/`` tree (the figures of the
issue that asked for this metric use the same scope). Paths are keyed by their part below
``executorch/backends/arm/``, so campaigns on other releases' venvs aggregate the same way.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

#: Environment variable a worker reads: the campaign's coverage directory.
ENV = "ARMFUZZ_COVERAGE_DIR"
#: Subpackages reported on their own (the rest is "other").
SUBPACKAGES = ("_passes", "operators", "operator_support", "quantizer", "tosa", "ethosu", "vgf")
_PKG_MARK = "executorch/backends/arm/"
_OMIT = "*/executorch/backends/arm/test/*"


class CoverageError(Exception):
    """A one-line, user-facing coverage problem (missing coverage.py, no data)."""


# -- in the worker ---------------------------------------------------------------------------


class Tracer:
    """One process's measurement: coverage.py started on the backend, saved to one file."""

    def __init__(self, cov_dir: Path, name: str) -> None:
        import importlib.util

        import coverage

        spec = importlib.util.find_spec("executorch")  # a namespace package: no __file__
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"--coverage: no executorch in {sys.executable}")
        arm = Path(list(spec.submodule_search_locations)[0]) / "backends" / "arm"
        # Written under a .tmp name and renamed when whole: the controller folds only those.
        self.path = cov_dir / "raw" / f"part.{name}.tmp"
        self.cov = coverage.Coverage(data_file=str(cov_dir / "raw" / "part"), data_suffix=f"{name}.tmp", branch=True,
                                     source=[str(arm)], omit=[_OMIT], config_file=False)
        self.cov.start()

    def save(self) -> None:
        self.cov.stop()
        self.cov.save()
        self.path.rename(self.path.with_name(self.path.name.removesuffix(".tmp") + ".done"))


def _start(name: str) -> Tracer | None:
    where = os.environ.get(ENV)
    if not where:
        return None
    try:
        return Tracer(Path(where), name)
    except ImportError:
        raise SystemExit(f"--coverage needs coverage.py in {sys.executable}: pip install 'coverage==7.17.*'") from None


def start_in_worker() -> Tracer | None:
    """Start tracing in a warm worker if the campaign asked for coverage; None otherwise."""
    return _start(f"worker-{os.getpid()}")


def save_worker(tracer: Tracer | None) -> None:
    """Save what import and warm-up reached, and stop: the worker itself runs no case, and
    each child measures its own (an untraced parent forks and waits at full speed)."""
    if tracer is not None:
        tracer.save()


def start_in_child() -> Tracer | None:
    """In a forked case child: measure only this case (the parent's tracer was stopped)."""
    return _start(f"case-{os.getpid()}")


def save_child(tracer: Tracer | None) -> None:
    """Save a case child's data before it reports, so a reported result's data is complete."""
    if tracer is None:
        return
    try:
        tracer.save()
    except Exception:  # noqa: BLE001 - coverage must never change a verdict
        pass


# -- in the controller -------------------------------------------------------------------------


def key_of(path: str) -> str | None:
    """``.../site-packages/executorch/backends/arm/_passes/x.py`` -> ``_passes/x.py``."""
    at = path.replace(os.sep, "/").rfind(_PKG_MARK)
    if at < 0:
        return None
    key = path[at + len(_PKG_MARK):]
    return None if key.startswith("test/") else key


def subpackage(key: str) -> str:
    head = key.split("/", 1)[0]
    return head if head in SUBPACKAGES and "/" in key else "other"


class CampaignCoverage:
    """The campaign's combined coverage database and its growth record."""

    def __init__(self, campaign: Path) -> None:
        self.dir = campaign / "coverage"
        self.db = self.dir / "combined.coverage"
        self.growth_path = self.dir / "growth.jsonl"
        self._reporters: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._growth: list[dict[str, Any]] | None = None

    def prepare(self) -> dict[str, str]:
        """Create the directory; the environment the workers need to measure."""
        try:
            import coverage  # noqa: F401
        except ImportError:
            raise CoverageError("--coverage needs coverage.py: pip install 'coverage==7.17.*'") from None
        (self.dir / "raw").mkdir(parents=True, exist_ok=True)
        return {ENV: str(self.dir)}

    def _data(self) -> Any:
        from coverage import CoverageData

        data = CoverageData(basename=str(self.db))
        data.read()
        return data

    def fold(self) -> int:
        """Merge every finished data file into the combined database; statements reached."""
        from coverage import CoverageData

        done = sorted((self.dir / "raw").glob("*.done"))
        data = self._data()
        for f in done:
            part = CoverageData(basename=str(f))
            try:
                part.read()
                data.update(part)
            except Exception:  # noqa: BLE001 - a torn file loses one case's coverage, never the campaign
                pass
            f.unlink(missing_ok=True)
        if done:
            data.write()
        return self.reached(data)

    def reached(self, data: Any) -> int:
        """Statements of the backend executed: the tracer's lines mapped to the statements
        they belong to (a multi-line call is one statement), as coverage.py's report counts."""
        import coverage
        from coverage.python import PythonFileReporter

        parsing = coverage.Coverage(data_file=None, config_file=False)  # default exclusions
        total = 0
        for f in data.measured_files():
            if not key_of(f):
                continue
            if f not in self._reporters:
                try:
                    self._reporters[f] = PythonFileReporter(f, coverage=parsing)
                    self._reporters[f].lines()  # parse once
                except Exception:  # noqa: BLE001 - a source file gone from disk
                    self._reporters[f] = None
            fr = self._reporters[f]
            if fr is not None:
                total += len(fr.translate_lines(data.lines(f) or ()) & fr.lines())
        return total

    def record_growth(self, elapsed: float, results: int) -> dict[str, Any]:
        """Fold, then append one point of statements reached against time and results."""
        self.growth()  # a resumed campaign's earlier points, read once before this one is added
        point = {"t": round(elapsed, 1), "wall": round(time.time(), 1), "results": results, "statements": self.fold()}
        with open(self.growth_path, "a") as f:
            f.write(json.dumps(point) + "\n")
        self._growth.append(point)
        return point

    def record_growth_in_background(self, elapsed: float, results: int) -> None:
        """record_growth off the controller's loop: the first one parses every backend source
        file (seconds), and workers must not wait for their next case meanwhile. Skipped while
        the previous one still runs."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self.record_growth, args=(elapsed, results), daemon=True)
        self._thread.start()

    def finish(self, elapsed: float, results: int) -> None:
        """The campaign's last growth point, after any background one."""
        if self._thread is not None:
            self._thread.join()
        self.record_growth(elapsed, results)

    def growth(self) -> list[dict[str, Any]]:
        """The growth record: read from disk once, then kept as points are recorded (the
        controller asks for it after every result)."""
        if self._growth is None:
            self._growth = []
            lines = self.growth_path.read_text().splitlines() if self.growth_path.exists() else []
            for line in lines:
                try:
                    self._growth.append(json.loads(line))
                except json.JSONDecodeError:  # a torn last line from a kill
                    pass
        return list(self._growth)

    def report(self, html_dir: Path | None = None) -> dict[str, Any]:
        """Totals (statements and branches, overall and per subpackage), the passes and
        operator visitors never entered, and coverage.py's JSON (and HTML) reports."""
        import coverage

        self.fold()
        if not self.db.exists():
            raise CoverageError(f"{self.dir}: no coverage data; run the campaign with --coverage")
        cov = coverage.Coverage(data_file=str(self.db), branch=True, config_file=False)
        cov.load()
        files = [f for f in cov.get_data().measured_files() if key_of(f)]
        if not files:
            raise CoverageError(f"{self.db}: no executorch/backends/arm files measured")
        json_path = self.dir / "coverage.json"
        cov.json_report(morfs=files, outfile=str(json_path), ignore_errors=True)
        if html_dir is not None:
            cov.html_report(morfs=files, directory=str(html_dir), ignore_errors=True,
                            title="armfuzz: executorch/backends/arm coverage")
        per_file = json.loads(json_path.read_text())["files"]
        return summarize(per_file)


def summarize(per_file: dict[str, Any]) -> dict[str, Any]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"statements": 0, "covered": 0, "branches": 0, "covered_branches": 0})
    unreached: dict[str, list[str]] = {"passes": [], "visitors": []}
    for path, info in per_file.items():
        key = key_of(path)
        if key is None:
            continue
        s = info["summary"]
        for bucket in ("total", subpackage(key)):
            t = totals[bucket]
            t["statements"] += s["num_statements"]
            t["covered"] += s["covered_lines"]
            t["branches"] += s.get("num_branches", 0)
            t["covered_branches"] += s.get("covered_branches", 0)
        unreached["passes"] += _never_entered(path, key, info, "_passes/", ("call", "call_operator"))
        unreached["visitors"] += _never_entered(path, key, info, "operators/", ("define_node",))
    return {"totals": dict(totals), "unreached": {k: sorted(v) for k, v in unreached.items()}}


def _never_entered(path: str, key: str, info: dict[str, Any], prefix: str, methods: tuple[str, ...]) -> list[str]:
    """``file:Class`` names in ``prefix`` files whose entry method has statements and ran
    none: a pass whose ``call`` never ran, a node visitor whose ``define_node`` never ran.
    Abstract bases (the body is one ``raise NotImplementedError``) are not passes."""
    if not key.startswith(prefix):
        return []
    out = []
    for name, fn in info.get("functions", {}).items():
        cls, _, meth = name.rpartition(".")
        if not (cls and meth in methods and fn["summary"]["num_statements"] and not fn["summary"]["covered_lines"]):
            continue
        if len(fn["missing_lines"]) == 1 and _source_line(path, fn["missing_lines"][0]).startswith("raise NotImplementedError"):
            continue
        out.append(f"{key.removesuffix('.py')}:{cls}")
    return out


def _source_line(path: str, lineno: int) -> str:
    try:
        with open(path) as f:
            return f.read().splitlines()[lineno - 1].strip()
    except (OSError, IndexError):
        return ""
