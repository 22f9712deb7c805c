"""Batch prediction against a plain River loop, peak memory, and full vs compact artifact sizes.

The input is Phishing (River's bundled set) resampled with replacement to ``--rows`` rows (seed 0)
with an ``id`` column, written once as Parquet (and CSV and JSONL for the format table) into a
temporary directory; its first ``--slow-rows`` rows also go to a smaller Parquet file for the
slow models (ARF and Gaussian NB score ~10,000 rows/s: a million rows would take minutes each).
For each model spec (trained on all of Phishing):

* ``driftline predict``: :func:`stream.batch.predict_file` (what the CLI runs) in a child process,
  Parquet in and Parquet out; rows/s over the scoring call, peak RSS of the whole child;
* River loop: the same Parquet chunks (``iter_batches`` + ``to_pylist``) and
  ``predict_proba_one`` per row (a River classifier's ``predict_one`` is ``predict_proba_one``
  plus a ``max``; batch prediction writes the probabilities), results kept in a list: reading
  plus the model, nothing else;
* River ``predict_many``: the same chunks as DataFrames (``to_pandas``) into
  ``predict_proba_many``, where the model has it, and how many of its probabilities equal
  ``predict_proba_one``'s bit for bit (batch prediction must give the stream's answers).

Then each input format once (logreg), the peak memory of logreg's batch run on an empty file, on
``--slow-rows`` rows and on ``--rows`` rows (chunked: it must not grow with the file), and the full
and compact artifact sizes of every spec and task on the bundled sets and on River synthetic
streams (Agrawal, Friedman), which grow the trees.

    python benchmarks/batch.py [--rows 1000000] [--slow-rows 100000] [--specs logreg,hoeffding-tree,arf,gaussian-nb]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = b"bench"
SPECS = ("logreg", "hoeffding-tree", "arf", "gaussian-nb")
# ~10,000 rows/s: scored on the first --slow-rows rows only, to keep the run to a few minutes.
SLOW_SPECS = frozenset({"arf", "gaussian-nb"})
FORMAT_RUNS = (("csv", "csv"), ("jsonl", "jsonl"), ("parquet", "parquet"))


def child(artifact_path: str, source: str, output: str, chunk_rows: int) -> None:
    """Runs in the child process: score the file as ``driftline predict`` does; print the timing."""
    from stream.batch.predict import predict_file
    from stream.model import artifact
    from stream.model.predictor import Predictor

    predictor = Predictor.from_artifact(artifact.read(artifact_path, KEY))
    with Clock() as clock:
        summary = predict_file(predictor, source, output, chunk_rows=chunk_rows)
    print(json.dumps({"rows": summary.rows, "scored": summary.scored, "wall": clock.wall, "cpu": clock.cpu, "peak_mb": peak_rss_mb()}))


class Clock:
    """Wall-clock and CPU seconds (this process, all its threads) of a ``with`` block.

    Both are reported: on a shared machine other processes steal wall-clock time from a run but
    not CPU time, so rows per CPU-second compare two runs fairly whatever else is running.
    """

    def __enter__(self) -> "Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program.

    Linux's VmHWM, not ``ru_maxrss``: the latter survives exec, so a child forked from this
    (large) benchmark process would report the parent's memory at fork time.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(artifact_path: Path, source: Path, output: Path, chunk_rows: int) -> dict:
    """Score in a fresh process, so that its peak memory is the batch run's alone."""
    command = [sys.executable, __file__, "--child", str(artifact_path), str(source), str(output), str(chunk_rows)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"batch child failed ({done.returncode}) on {source}")
    return json.loads(done.stdout)


def generate(folder: Path, rows: int, slow_rows: int, formats: set[str]) -> dict[str, Path]:
    import numpy as np
    import pandas as pd

    from stream.training.datasets import load_dataset

    frame = pd.DataFrame(load_dataset("phishing").rows)
    picks = np.random.default_rng(0).integers(0, len(frame), rows)
    big = frame.iloc[picks].reset_index(drop=True)
    big.insert(0, "id", np.char.add("r", np.arange(rows).astype(str)))
    paths = {"empty": folder / "empty.parquet"}
    big.head(0).to_parquet(paths["empty"], index=False)  # for the memory of imports and model alone
    paths["slow"] = folder / "rows-slow.parquet"
    big.head(slow_rows).to_parquet(paths["slow"], index=False)
    for fmt in sorted(formats):
        path = folder / f"rows.{fmt}"
        started = time.perf_counter()
        if fmt == "parquet":
            big.to_parquet(path, index=False)
        elif fmt == "csv":
            big.to_csv(path, index=False)
        else:
            big.to_json(path, orient="records", lines=True)
        print(f"wrote {path.name}: {rows:,} rows, {path.stat().st_size / 1e6:,.1f} MB in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        paths[fmt] = path
    return paths


def river_loops(model, source: Path, chunk_rows: int, features: list[str]) -> dict:
    """Rows/s (wall and CPU) of a predict_proba_one loop and of predict_proba_many (None where the
    model has none), and the share of predict_proba_many's probabilities equal to
    predict_proba_one's (first chunk)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    one = model.predict_proba_one
    rows = 0
    first = None
    with Clock() as clock:
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=features):
            results = [one(x) for x in batch.to_pylist()]
            first = results if first is None else first
            rows += len(results)
    report = {"one": rows / clock.wall, "one_cpu": rows / clock.cpu, "many": None, "many_cpu": None, "equal": None}

    rows = 0
    try:
        with Clock() as clock:
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=features):
                model.predict_proba_many(batch.to_pandas())
                rows += batch.num_rows
    except (NotImplementedError, AttributeError, TypeError):
        return report
    report["many"], report["many_cpu"] = rows / clock.wall, rows / clock.cpu
    probas = model.predict_proba_many(next(parquet.iter_batches(batch_size=chunk_rows, columns=features)).to_pandas())
    columns = {c: probas[c].tolist() for c in probas.columns}
    pairs = [(columns[c][i], p[c]) for i, p in enumerate(first) for c in p]
    report["equal"] = sum(a == b for a, b in pairs) / len(pairs)
    return report


def throughput(folder: Path, paths: dict[str, Path], specs: list[str], chunk_rows: int) -> list[dict]:
    """Per spec: batch and River rows/s on the big file (the slow file for SLOW_SPECS), peak RSS."""
    from stream.model import artifact
    from stream.training.datasets import load_dataset
    from stream.training.trainer import train

    data = load_dataset("phishing")
    results = []
    for spec in specs:
        trained = train(data, spec, f"bench-{spec}")
        artifact_path = folder / f"{spec}.dla"
        artifact.write(artifact_path, trained, KEY)
        source = paths["slow"] if spec in SLOW_SPECS else paths["parquet"]
        batch = run_child(artifact_path, source, folder / "out.parquet", chunk_rows)
        idle = run_child(artifact_path, paths["empty"], folder / "empty-out.parquet", chunk_rows)
        river = river_loops(trained.model, source, chunk_rows, list(trained.metadata["schema"]["features"]))
        results.append(dict(river, spec=spec, rows=batch["rows"], batch=batch["rows"] / batch["wall"], batch_cpu=batch["rows"] / batch["cpu"],
                            peak_mb=batch["peak_mb"], idle_mb=idle["peak_mb"]))
        print(f"{spec}: {batch['rows']:,} rows, batch {results[-1]['batch_cpu']:,.0f} rows/CPU-s, River loop {river['one_cpu']:,.0f} rows/CPU-s, "
              f"peak {batch['peak_mb']:,.0f} MB", file=sys.stderr)
    return results


def memory(folder: Path, paths: dict[str, Path], chunk_rows: int, logreg: dict) -> list[tuple[int, float]]:
    """logreg's peak RSS on files of 0, --slow-rows and --rows rows: (rows, MB)."""
    slow = run_child(folder / "logreg.dla", paths["slow"], folder / "mem-out.parquet", chunk_rows)
    return [(0, logreg["idle_mb"]), (slow["rows"], slow["peak_mb"]), (logreg["rows"], logreg["peak_mb"])]


def formats(folder: Path, paths: dict[str, Path], chunk_rows: int) -> list[dict]:
    results = []
    for in_fmt, out_fmt in FORMAT_RUNS:
        if in_fmt not in paths:
            continue
        batch = run_child(folder / "logreg.dla", paths[in_fmt], folder / f"out.{out_fmt}", chunk_rows)
        size = paths[in_fmt].stat().st_size / 1e6
        results.append({"run": f"{in_fmt} -> {out_fmt}", "mb": size, "rate": batch["rows"] / batch["wall"], "rate_cpu": batch["rows"] / batch["cpu"], "peak_mb": batch["peak_mb"]})
    return results


def sizes(synthetic_rows: int) -> list[dict]:
    from river.datasets import synth

    from stream.model import artifact
    from stream.model.compact import compact
    from stream.model.specs import SPECS
    from stream.training.datasets import Dataset, load_dataset
    from stream.training.trainer import train

    def from_stream(name: str, task: str, generator) -> Dataset:
        rows, targets = [], []
        for x, y in generator.take(synthetic_rows):
            rows.append({str(k): (v.item() if hasattr(v, "item") else v) for k, v in x.items()})
            targets.append(y.item() if hasattr(y, "item") else y)
        return Dataset(name, task, "y", rows, targets)

    sets = [
        load_dataset("phishing"),
        load_dataset("trumpapproval"),
        from_stream(f"agrawal-{synthetic_rows // 1000}k", "binary_classification", synth.Agrawal(seed=1)),
        from_stream(f"friedman-{synthetic_rows // 1000}k", "regression", synth.Friedman(seed=1)),
    ]
    results = []
    for data in sets:
        for name in sorted(SPECS):
            if not SPECS[name].supports(data.task):
                continue
            trained = train(data, name, f"bench-{name}")
            full = len(artifact.dumps(trained, KEY))
            small = compact(trained)
            compact_size = len(artifact.dumps(small, KEY, compact=True))
            dropped = ", ".join(f"{k} {v:,}" for k, v in small.metadata["compaction"]["dropped"].items()) or "-"
            results.append({"spec": name, "task": data.task.split("_")[0], "data": data.name, "full": full, "compact": compact_size, "dropped": dropped})
            print(f"sizes: {name} on {data.name}: {full:,} -> {compact_size:,} bytes", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated input file")
    parser.add_argument("--slow-rows", type=int, default=100_000, help=f"rows scored by the slow specs ({', '.join(sorted(SLOW_SPECS))})")
    parser.add_argument("--specs", default=",".join(SPECS), help="model specs for the throughput table")
    parser.add_argument("--chunk-size", type=int, default=20_000, help="rows per chunk (batch and River loops)")
    parser.add_argument("--synthetic-rows", type=int, default=5_000, help="training rows of the synthetic sets for the size table")
    parser.add_argument("--no-formats", action="store_true", help="skip the CSV and JSONL runs")
    parser.add_argument("--child", nargs=4, metavar=("ARTIFACT", "INPUT", "OUTPUT", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child[:3], int(args.child[3]))
        return 0

    started = time.perf_counter()
    load = os.getloadavg()
    specs = [s.strip() for s in args.specs.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="driftline-batch-bench-") as tmp:
        folder = Path(tmp)
        paths = generate(folder, args.rows, min(args.slow_rows, args.rows), {"parquet"} if args.no_formats else {"parquet", "csv", "jsonl"})
        speed = throughput(folder, paths, specs, args.chunk_size)
        logreg = next((r for r in speed if r["spec"] == "logreg"), None)
        by_memory = memory(folder, paths, args.chunk_size, logreg) if logreg else []
        by_format = [] if args.no_formats or "logreg" not in specs else formats(folder, paths, args.chunk_size)
    size_rows = sizes(args.synthetic_rows)

    import river

    print(f"\nbatch prediction, Phishing resampled to {args.rows:,} rows (9 features), chunks of {args.chunk_size:,} rows, "
          f"Parquet in and out; {os.cpu_count()} CPUs, Python {platform.python_version()}, River {river.__version__}; "
          f"load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n")
    print("Rows per CPU-second (the process's CPU time, all threads), then rows per wall-clock second.\n")
    print("| spec | rows | driftline predict | River predict_proba_one loop | ratio | River predict_proba_many | ratio | predict_proba_many = predict_proba_one | driftline predict, wall | River loop, wall | peak RSS (MB) | peak RSS, empty file (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in speed:
        many = f"{r['many_cpu']:,.0f} | {r['batch_cpu'] / r['many_cpu']:.2f} | {r['equal']:.1%} of probabilities" if r["many"] else "n/a | - | -"
        print(f"| {r['spec']} | {r['rows']:,} | {r['batch_cpu']:,.0f} | {r['one_cpu']:,.0f} | {r['batch_cpu'] / r['one_cpu']:.2f} | {many} | "
              f"{r['batch']:,.0f} | {r['one']:,.0f} | {r['peak_mb']:,.0f} | {r['idle_mb']:,.0f} |")
    if by_memory:
        print("\nlogreg batch run, peak RSS by input size: " + ", ".join(f"{rows:,} rows {mb:,.0f} MB" for rows, mb in by_memory))
    if by_format:
        print("\n| logreg, input -> output | input size (MB) | rows per CPU-second | rows per wall-clock second | peak RSS (MB) |")
        print("|---|---:|---:|---:|---:|")
        for r in by_format:
            print(f"| {r['run']} | {r['mb']:,.1f} | {r['rate_cpu']:,.0f} | {r['rate']:,.0f} | {r['peak_mb']:,.0f} |")
    print("\n| spec | task | trained on | full (bytes) | compact (bytes) | compact / full | dropped |")
    print("|---|---|---|---:|---:|---:|---|")
    for r in size_rows:
        print(f"| {r['spec']} | {r['task']} | {r['data']} | {r['full']:,} | {r['compact']:,} | {r['compact'] / r['full']:.1%} | {r['dropped']} |")
    print(f"\ntotal run time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
