"""The edge runtime: the bundle holds only stdlib + River code, and in a fresh virtual environment
with nothing but River it gives the server's answers."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import batchdata
import pytest
from click.testing import CliRunner

from stream.cli import main
from stream.model import artifact
from stream.model.compact import compact
from stream.model.edge import RUNTIME_FILES, write_bundle
from stream.model.predictor import Predictor
from stream.training.trainer import train

KEY = b"test-signing-key"

# Run inside the bundle: records every import statement executed by a module of the ``stream``
# package that names something outside the standard library and River, then loads and predicts.
IMPORT_CHECK = r"""
import builtins, importlib.util, json, sys
outside, real_import = [], builtins.__import__
def watched(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "")
    top = name.partition(".")[0]
    if level == 0 and importer.partition(".")[0] == "stream" and top not in sys.stdlib_module_names and top not in ("river", "stream"):
        outside.append([importer, name])
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = watched
import stream.edge
model = stream.edge.load(sys.argv[1], sys.argv[2])
model.score(json.loads(sys.argv[3]))
print(json.dumps({"outside": outside, "stream": stream.__file__, "pandas": importlib.util.find_spec("pandas") is not None}))
"""


def bundled_imports(path: Path, package: str) -> list[tuple[str, ...]]:
    """Per import statement of a source file in ``package``, the absolute module names it may mean
    (``from stream.model import specs`` may name the module ``stream.model`` or ``stream.model.specs``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name,) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((base, *(f"{base}.{alias.name}" for alias in node.names)))
    return found


def bundled_module_names(bundle: Path) -> set[str]:
    names = set()
    for path in (bundle / "stream").rglob("*.py"):
        parts = path.relative_to(bundle).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    trained = train(batchdata.classification(600), "hoeffding-tree", "b3-edge-unit")
    path = tmp_path_factory.mktemp("edge-model") / "model.dla"
    artifact.write(path, compact(trained), KEY, compact=True)
    return path, Predictor.from_artifact(trained)


@pytest.fixture
def bundle(tmp_path):
    write_bundle(tmp_path / "edge")
    return tmp_path / "edge"


def rows_with_dirt():
    rows, _, _ = batchdata.mixed_rows(30, seed=5)
    return rows + [row for row, _ in batchdata.dirty_rows(rows[0])]


def run_edge(python: str, bundle: Path, model: Path, rows: list, key: bytes | None = KEY, extra=()):
    lines = "".join(json.dumps({"id": f"e{i}"} | row) + "\n" for i, row in enumerate(rows)) + "[1]\n"
    env = {"PATH": os.environ["PATH"], **({"EDGE_KEY": key.decode()} if key else {})}
    # -E -s: no PYTHONPATH, no user site; the bundle (the working directory) provides ``stream``.
    return subprocess.run([python, "-E", "-s", "-m", "stream.edge", str(model), "--key-env", "EDGE_KEY", *extra],
                          input=lines, capture_output=True, text=True, cwd=bundle, env=env, timeout=120)


def test_bundle_holds_exactly_the_runtime_modules_and_pins_river(bundle):
    files = [p.relative_to(bundle / "stream").as_posix() for p in (bundle / "stream").rglob("*") if p.is_file()]
    assert sorted(files) == sorted(RUNTIME_FILES)
    assert (bundle / "requirements.txt").read_text() == f"river=={metadata.version('river')}\n"


def test_bundled_modules_import_only_the_standard_library_river_and_each_other(bundle):
    bundled = bundled_module_names(bundle)
    for path in (bundle / "stream").rglob("*.py"):
        parts = path.relative_to(bundle).with_suffix("").parts
        package = ".".join(parts[:-1])
        for candidates in bundled_imports(path, package):
            top = candidates[0].partition(".")[0]
            if top == "stream":
                assert set(candidates) & bundled, f"{path} imports {candidates[0]}, which is not bundled"
            else:
                assert top in sys.stdlib_module_names or top == "river", f"{path} imports {candidates[0]}"


def test_bundled_runtime_imports_nothing_else_when_it_runs(bundle, model_file):
    model, _ = model_file
    row = json.dumps(batchdata.mixed_rows(1)[0][0])
    result = subprocess.run([sys.executable, "-E", "-s", "-c", IMPORT_CHECK, str(model), KEY.decode(), row],
                            capture_output=True, text=True, cwd=bundle, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outside"] == []
    assert Path(report["stream"]).resolve().parent == (bundle / "stream").resolve()


def test_edge_entry_point_gives_one_line_per_input_line(bundle, model_file):
    model, offline = model_file
    rows = rows_with_dirt()
    result = run_edge(sys.executable, bundle, model, rows)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(rows) + 1
    for i, (row, line) in enumerate(zip(rows, lines)):
        assert line["id"] == f"e{i}"
        if i < 30:
            assert {k: line[k] for k in ("prediction", "proba")} == offline.score(row)
    assert [line["error"]["reason"] for line in lines[30:]] == [r for _, r in batchdata.dirty_rows(rows[0])] + ["not_an_object"]
    assert lines[-1]["row"] == len(rows)
    assert "scored 30, rejected 5" in result.stderr


def test_edge_entry_point_needs_the_right_key(bundle, model_file):
    model, _ = model_file
    no_key = run_edge(sys.executable, bundle, model, [], key=None)
    assert no_key.returncode == 2 and "set EDGE_KEY" in no_key.stderr
    wrong = run_edge(sys.executable, bundle, model, [], key=b"wrong")
    assert wrong.returncode == 1 and "signature does not match" in wrong.stderr
    missing = run_edge(sys.executable, bundle, model.parent / "no-such.dla", [], key=None)
    assert missing.returncode == 1 and "artifact file not found" in missing.stderr  # not "set the key"
    unsigned = model.parent / "unsigned.dla"
    unsigned.write_bytes(artifact.dumps(artifact.read(model, KEY), None))
    refused = run_edge(sys.executable, bundle, unsigned, [])
    assert refused.returncode == 1 and "--allow-unsigned" in refused.stderr  # the edge's switch, not the service's setting
    assert run_edge(sys.executable, bundle, unsigned, [], extra=("--allow-unsigned",)).returncode == 0


def test_edge_stops_quietly_when_its_reader_goes_away(bundle, model_file):
    model, _ = model_file
    rows = "".join(json.dumps(row) + "\n" for row in rows_with_dirt()[:30]) * 2000
    env = {"PATH": os.environ["PATH"], "EDGE_KEY": KEY.decode()}
    piped = subprocess.run(f"{sys.executable} -E -s -m stream.edge {model} --key-env EDGE_KEY | head -1",
                           shell=True, input=rows, capture_output=True, text=True, cwd=bundle, env=env, timeout=120)
    assert len(piped.stdout.splitlines()) == 1 and "Traceback" not in piped.stderr, piped.stderr[-2000:]


def test_edge_bundle_command(tmp_path):
    result = CliRunner().invoke(main, ["edge-bundle", "--out", str(tmp_path / "dev")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dev" / "stream" / "edge.py").exists() and "python -m stream.edge" in result.output


# A fresh virtual environment with only River ------------------------------------------------------


@pytest.fixture(scope="session")
def edge_python(tmp_path_factory) -> str:
    """A virtualenv with river (the installed version) and its dependencies only, once per session."""
    venv = tmp_path_factory.mktemp("edge-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", f"river=={metadata.version('river')}"],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    return python


@pytest.mark.integration
def test_compact_export_runs_in_a_fresh_river_only_venv_with_the_servers_answers(worker, registry, stack_settings, edge_python, tmp_path):
    trained = train(batchdata.classification(600), "arf", "b3-edge")
    registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion", reason="b3 edge")
    device = tmp_path / "device"
    env = stack_settings.to_env()
    assert CliRunner().invoke(main, ["edge-bundle", "--out", str(device)]).exit_code == 0
    exported = CliRunner().invoke(main, ["export", "--model", "b3-edge", "--out", str(device / "model.dla"), "--compact"], env=env)
    assert exported.exit_code == 0, exported.output

    rows = rows_with_dirt()
    result = run_edge(edge_python, device, device / "model.dla", rows)
    assert result.returncode == 0, result.stderr
    edge = [json.loads(line) for line in result.stdout.splitlines()][: len(rows)]
    status, served = batchdata.post(worker.url + "/predict", [{"id": f"e{i}", "model": "b3-edge", "features": r} for i, r in enumerate(rows)])
    assert status == 200
    for on_device, on_server in zip(edge, served["results"]):
        if "error" in on_server:
            assert on_device["error"]["reason"] == on_server["error"]["reason"]
        else:
            assert (on_device["prediction"], on_device["proba"]) == (on_server["prediction"], on_server["proba"])
    assert sum("error" in r for r in served["results"]) == 4

    row = json.dumps(rows[0])
    check = subprocess.run([edge_python, "-E", "-s", "-c", IMPORT_CHECK, str(device / "model.dla"), KEY.decode(), row],
                           capture_output=True, text=True, cwd=device, timeout=120)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["outside"] == [] and report["pandas"] is False  # River's own dependencies only
    assert Path(report["stream"]).resolve().parent == (device / "stream").resolve()
