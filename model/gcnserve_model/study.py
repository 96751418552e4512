"""Several models, several seeds, one generated task: trained through fit,
measured on a held-out generated test set, compared pair by pair.

    cd model && /usr/bin/python3 -m gcnserve_model.relations /tmp/rel/train --count 4000 --seed 0
    cd model && /usr/bin/python3 -m gcnserve_model.relations /tmp/rel/test --count 2000 --seed 1
    cd model && nice -n 10 /usr/bin/python3 -m gcnserve_model.study run --train /tmp/rel/train \\
        --test /tmp/rel/test --work /tmp/rel/study --arch model3 --seeds 0 1 2 -- --num-points 8 --no-augment
    cd model && /usr/bin/python3 -m gcnserve_model.study summarize --work /tmp/rel/study --out summary.json

`run` trains one configuration (--arch and the fit options after `--`) once
per seed, as `fit TRAIN --repository WORK/repo --name TAG-sSEED --seed SEED
--threads 1 --epochs E ...`; a run whose export exists is not trained again,
so an interrupted study resumes. Each export is then measured on TEST
(accuracy, per class, the served probabilities' ECE, every prediction) and
by explain.py (points against the boxes, the fixed prior counted on TRAIN,
the deletion test); WORK/runs.json gets one record per run, with the
command that made it.

`measure` measures every recorded run again (after explain.py changed).
`summarize` gives, per configuration (tag), the mean and sample standard
deviation over seeds of every figure, and for every pair of configurations
the paired comparisons on the same test images: the exact McNemar test per
seed and over all seeds' predictions together, and a paired t-test of the
per-seed accuracies (the seeds are paired: the same seed gives the same
training/validation split).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from . import explain
from .calibration import expected_calibration_error, probabilities
from .compare import mcnemar_exact, paired
from .relations import LABELS

RUNS_FILE = "runs.json"


def tag_of(arch: str, fit_options: Sequence[str]) -> str:
    """A configuration's name: the architecture and the options that change
    the model (--num-points, --nms), e.g. model3-k8-nms3."""
    tag = arch
    options = list(fit_options)
    for flag, short in (("--num-points", "k"), ("--nms", "nms")):
        if flag in options:
            value = options[options.index(flag) + 1]
            if not (flag == "--nms" and value == "0"):
                tag += f"-{short}{value}"
    return tag


def read_runs(work: Path) -> List[Dict[str, Any]]:
    path = work / RUNS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _write_runs(work: Path, runs: List[Dict[str, Any]]) -> None:
    tmp = work / f".{RUNS_FILE}.tmp"
    tmp.write_text(json.dumps(runs, indent=1) + "\n")
    tmp.replace(work / RUNS_FILE)


def measure(model_file: Path, test: Path, train: Path) -> Dict[str, Any]:
    """Accuracy, per-class accuracy, ECE and predictions on TEST, and
    explain.py's figures (prior counted on TRAIN)."""
    loaded = explain.load(model_file)
    evidence = explain.relations_evidence(test, loaded)
    logits = torch.from_numpy(explain.forward(loaded.model, evidence.inputs)["logits"])
    labels = torch.from_numpy(evidence.labels)
    temperature = float(loaded.calibration["temperature"]) if loaded.calibration else 1.0
    predicted = logits.argmax(1)
    correct = predicted == labels
    figures = explain.explain(loaded, evidence, explain.relations_masks(train)[1])
    return {
        "test_images": len(labels),
        "test_accuracy": float(correct.double().mean()),
        "test_class_accuracy": {name: float(correct[labels == i].double().mean())
                                for i, name in enumerate(loaded.labels)},
        "temperature": temperature,
        "test_ece": expected_calibration_error(probabilities(logits, temperature), labels),
        "test_ece_uncalibrated": expected_calibration_error(probabilities(logits), labels),
        "predicted": predicted.tolist(),
        "labels": labels.tolist(),
        "label_names": list(loaded.labels),
        "explain": {k: v for k, v in figures.items() if k not in ("set",)},
    }


def run(args: argparse.Namespace) -> int:
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    tag = tag_of(args.arch, args.fit_options)
    for seed in args.seeds:
        name = f"{tag}-s{seed}"
        model_file = work / "repo" / name / "1" / "model.pt"
        runs = read_runs(work)
        if any(r["name"] == name for r in runs):
            print(f"{name}: measured already", flush=True)
            continue
        command = [sys.executable, "-m", "gcnserve_model.fit", str(args.train), "--repository", str(work / "repo"),
                   "--name", name, "--arch", args.arch, "--seed", str(seed), "--epochs", str(args.epochs),
                   "--threads", "1", *args.fit_options]
        started = time.time()
        if not model_file.is_file():
            last = work / "repo" / ".fit" / name / "last.pt"
            resume = ["--resume"] if last.is_file() else []
            log = work / f"{name}.log"
            print(f"{name}: {shlex.join(command + resume)} > {log}", flush=True)
            with open(log, "a") as out:
                code = subprocess.call(command + resume, stdout=out, stderr=subprocess.STDOUT,
                                       cwd=Path(__file__).resolve().parents[1])
            if code != 0:
                print(f"{name}: fit failed ({code}); see {log}", file=sys.stderr)
                return 1
        seconds = time.time() - started
        history = torch.load(str(work / "repo" / ".fit" / name / "last.pt"), map_location="cpu")["history"]
        record = {"name": name, "tag": tag, "arch": args.arch, "seed": seed,
                  "command": "cd model && nice -n 10 " + shlex.join(["/usr/bin/python3", *command[1:]]),
                  "fit_wall_seconds": round(seconds, 1), "model_file": str(model_file),
                  "val_accuracy_by_epoch": [round(h["val_accuracy"], 4) for h in history],
                  "best_epoch": int(max(history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))["epoch"]),
                  "best_val_accuracy": max(h["val_accuracy"] for h in history)}
        record.update(measure(model_file, args.test, args.train))
        runs = read_runs(work)
        runs.append(record)
        _write_runs(work, runs)
        print(f"{name}: test accuracy {record['test_accuracy']:.4f}, points on the boxes "
              f"{record['explain'].get('points_on_objects', {}).get('model', float('nan')):.3f}", flush=True)
    return 0


def remeasure(args: argparse.Namespace) -> int:
    """Measures every run of WORK/runs.json again (after explain.py or the
    test set changed), keeping its training record."""
    runs = read_runs(args.work)
    for i, r in enumerate(runs):
        r.update(measure(Path(r["model_file"]), args.test, args.train))
        _write_runs(args.work, runs)
        print(f"{r['name']}: test accuracy {r['test_accuracy']:.4f} ({i + 1} of {len(runs)})", flush=True)
    return 0


def _mean_std(values: Sequence[float]) -> Dict[str, Any]:
    """Mean and sample standard deviation (None for no values)."""
    a = np.asarray(values, dtype=np.float64)
    if not len(a):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "n": int(len(a))}


def paired_t(first: Sequence[float], second: Sequence[float]) -> Optional[float]:
    """Two-sided p of a paired t-test (None with fewer than 2 pairs or no spread)."""
    d = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    if len(d) < 2 or d.std(ddof=1) == 0:
        return None
    from scipy import stats
    return float(stats.ttest_rel(first, second).pvalue)


def _names(run: Dict[str, Any]) -> List[str]:
    """The class names the run's label indices stand for (fit sorts the folder names)."""
    return run.get("label_names") or sorted(LABELS)


def summarize(runs: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Per configuration: mean and std over seeds; per pair: the tests."""
    by_tag: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for r in runs:
        by_tag.setdefault(r["tag"], {})[r["seed"]] = r
    configurations: Dict[str, Any] = {}
    for tag, seeds in by_tag.items():
        rs = [seeds[s] for s in sorted(seeds)]
        entry: Dict[str, Any] = {"seeds": sorted(seeds),
                                 "test_accuracy": _mean_std([r["test_accuracy"] for r in rs]),
                                 "best_val_accuracy": _mean_std([r["best_val_accuracy"] for r in rs]),
                                 "test_ece": _mean_std([r["test_ece"] for r in rs]),
                                 "test_ece_uncalibrated": _mean_std([r["test_ece_uncalibrated"] for r in rs]),
                                 "fit_wall_seconds": _mean_std([r["fit_wall_seconds"] for r in rs]),
                                 "test_class_accuracy": {c: _mean_std([r["test_class_accuracy"][c] for r in rs])
                                                         for c in rs[0]["test_class_accuracy"]}}
        for group in ("near", "far"):
            entry[f"test_accuracy_{group}"] = _mean_std([
                float(np.mean([p == y for p, y in zip(r["predicted"], r["labels"])
                               if _names(r)[y].endswith(group)])) for r in rs])
        ex = [r["explain"] for r in rs if "points_on_objects" in r["explain"]]
        if ex:
            entry["points_on_objects"] = {k: _mean_std([e["points_on_objects"][k] for e in ex])
                                          for k in ex[0]["points_on_objects"]}
            entry["deletion"] = {k: _mean_std([e["deletion"][k] for e in ex if e["deletion"][k] is not None])
                                 for k in ex[0]["deletion"]}
            entry["goals_met_by_seed"] = {k: [explain.goals(e)[k] for e in ex] for k in explain.goals(ex[0])}
        configurations[tag] = entry
    pairs = []
    for a, b in itertools.combinations(sorted(by_tag), 2):
        seeds = sorted(set(by_tag[a]) & set(by_tag[b]))
        if not seeds:
            continue
        per_seed, first_all, second_all = [], [], []
        for s in seeds:
            ra, rb = by_tag[a][s], by_tag[b][s]
            if ra["labels"] != rb["labels"]:
                raise ValueError(f"{ra['name']} and {rb['name']} were measured on different test images")
            ca = np.asarray(ra["predicted"]) == np.asarray(ra["labels"])
            cb = np.asarray(rb["predicted"]) == np.asarray(rb["labels"])
            per_seed.append(dict(seed=s, **{k: v for k, v in paired(ca, cb).items()
                                            if k not in ("first_accuracy", "second_accuracy")}))
            first_all.append(ca)
            second_all.append(cb)
        pooled = paired(np.concatenate(first_all), np.concatenate(second_all))
        groups = {}
        for group in ("near", "far"):
            inside = np.concatenate([[_names(by_tag[a][s])[y].endswith(group) for y in by_tag[a][s]["labels"]]
                                     for s in seeds])
            g = paired(np.concatenate(first_all)[inside], np.concatenate(second_all)[inside])
            groups[group] = {k: v for k, v in g.items() if k not in ("first_accuracy", "second_accuracy")}
        accuracy_a = [by_tag[a][s]["test_accuracy"] for s in seeds]
        accuracy_b = [by_tag[b][s]["test_accuracy"] for s in seeds]
        pairs.append({"first": a, "second": b, "seeds": seeds,
                      "mean_difference": float(np.mean(accuracy_a) - np.mean(accuracy_b)),
                      "paired_t_p": paired_t(accuracy_a, accuracy_b),
                      "mcnemar_pooled": {k: v for k, v in pooled.items()
                                         if k not in ("first_accuracy", "second_accuracy")},
                      "mcnemar_per_seed": per_seed,
                      "mcnemar_pooled_by_group": groups})
    return {"configurations": configurations, "pairs": pairs}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    fit_options: List[str] = []
    if "--" in argv:
        fit_options = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(description="Train configurations over seeds through fit and compare them.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and measure one configuration for each seed (fit options after --)")
    r.add_argument("--train", type=Path, required=True, help="generated training folder (relations.py)")
    r.add_argument("--test", type=Path, required=True, help="generated test folder, another seed")
    r.add_argument("--work", type=Path, required=True)
    r.add_argument("--arch", required=True)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--epochs", type=int, default=20)
    m = sub.add_parser("measure", help="measure every run of WORK/runs.json again")
    m.add_argument("--train", type=Path, required=True)
    m.add_argument("--test", type=Path, required=True)
    m.add_argument("--work", type=Path, required=True)
    s = sub.add_parser("summarize", help="mean, std and paired tests of the runs in WORK/runs.json")
    s.add_argument("--work", type=Path, required=True)
    s.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.command == "run":
        args.fit_options = fit_options
        return run(args)
    if args.command == "measure":
        return remeasure(args)
    summary = summarize(read_runs(args.work))
    text = json.dumps(summary, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    for tag, c in summary["configurations"].items():
        line = f"{tag}: test {c['test_accuracy']['mean']:.4f} ± {c['test_accuracy']['std']:.4f}"
        if "points_on_objects" in c:
            ratio = c["deletion"]["cost_ratio"]["mean"]
            line += (f", points on boxes {c['points_on_objects']['model']['mean']:.3f} (prior "
                     f"{c['points_on_objects']['fixed_prior']['mean']:.3f}), deletion cost ratio "
                     + ("none" if ratio is None else f"{ratio:.1f}"))
        print(line)
    for pair in summary["pairs"]:
        print(f"{pair['first']} vs {pair['second']}: {pair['mean_difference'] * 100:+.2f} pp, "
              f"McNemar pooled p {pair['mcnemar_pooled']['mcnemar_exact_p']:.3g}, paired t p {pair['paired_t_p']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
