"""The long fuzz run over saves and maps: thousands of mutated inputs under a memory limit.

    python benchmarks/fuzz_saves.py --examples 5000 --map-examples 5000 --json fuzz.json

Runs the strategies of tests/fuzz_strategies.py (the ones tests/test_fuzz.py runs briefly) with many more
examples, in this process under an RLIMIT_AS of --memory-gib (default 6), so an allocation a file merely
declares fails as MemoryError (and is counted as a finding) instead of passing unnoticed on a machine that
overcommits. Each call has a --timeout (default 30 s) alarm: a hang is a finding too. Prints the inputs tried
per target, the outcomes (loaded, refused by reason class) and every finding (its kind, message and a
reproducer file under --findings-dir).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz_strategies import (  # noqa: E402
    MapInput,
    Outcome,
    SaveInput,
    build_seeds,
    builtin_maps,
    byte_mutations,
    check_map,
    check_save,
    map_inputs,
    member_mutations,
    meta_mutations,
)


class Tally:
    def __init__(self, findings_dir: Path) -> None:
        self.findings_dir = findings_dir
        self.inputs: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.findings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.slowest: tuple[float, str] = (0.0, "")
        self.examples: dict[str, str] = {}
        """The first message of each refusal class that no check anticipated (the catch-all's)."""

    def record(self, family: str, target: str, outcomes: list[Outcome], data: bytes | str, seconds: float,
               suffix: str) -> None:
        self.inputs[f"{family}/{target}"] += 1
        self.slowest = max(self.slowest, (seconds, f"{family}/{target}"))
        for outcome in outcomes:
            self.outcomes[f"{family}/{outcome.call}"][f"{outcome.status}: {outcome.reason}"] += 1
            if outcome.reason.startswith("unanticipated") or "cannot read" in outcome.reason:
                self.examples.setdefault(outcome.reason, f"{target}: {outcome.message[:300]}")
            if outcome.status != "finding":
                continue
            key = (outcome.call, outcome.reason, outcome.message.split("(")[0][:80])
            entry = self.findings.setdefault(key, {"call": outcome.call, "kind": outcome.reason,
                                                   "message": outcome.message[:400], "target": target,
                                                   "count": 0, "reproducer": None})
            entry["count"] += 1
            if entry["reproducer"] is None:
                raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
                name = f"{family}-{hashlib.sha1(raw).hexdigest()[:12]}{suffix}"
                self.findings_dir.mkdir(parents=True, exist_ok=True)
                (self.findings_dir / name).write_bytes(raw)
                entry["reproducer"] = str(self.findings_dir / name)

    def report(self) -> dict[str, Any]:
        return {"inputs": dict(sorted(self.inputs.items())),
                "outcomes": {k: dict(v.most_common()) for k, v in sorted(self.outcomes.items())},
                "findings": list(self.findings.values()), "unanticipated_examples": self.examples,
                "slowest_input_s": round(self.slowest[0], 3), "slowest_target": self.slowest[1]}


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))


def run_saves(examples: int, work: Path, tally: Tally, timeout: int, rng_seed: int) -> None:
    seeds = build_seeds(work)
    path = work / "fuzz.dqn"
    families = {"bytes": byte_mutations(seeds), "member": member_mutations(seeds), "meta": meta_mutations(seeds)}
    shares = {"bytes": 0.3, "member": 0.4, "meta": 0.3}
    for family, strategy in families.items():
        count = max(1, round(examples * shares[family]))
        started = time.perf_counter()
        _fuzz_saves(strategy, family, count, path, tally, timeout, rng_seed)
        print(f"  saves/{family}: {count} inputs in {time.perf_counter() - started:.0f} s", flush=True)


def _fuzz_saves(strategy: st.SearchStrategy[SaveInput], family: str, count: int, path: Path, tally: Tally,
                timeout: int, rng_seed: int) -> None:
    @seed(rng_seed)
    @_settings(count)
    @given(strategy)
    def fuzz(item: SaveInput) -> None:
        path.write_bytes(item.data)
        start = time.perf_counter()
        outcomes = check_save(path, timeout)
        tally.record("save", item.target, outcomes, item.data, time.perf_counter() - start, ".dqn")

    fuzz()


def run_maps(examples: int, work: Path, tally: Tally, timeout: int, rng_seed: int) -> None:
    path = work / "fuzz.txt"

    @seed(rng_seed)
    @_settings(examples)
    @given(map_inputs(builtin_maps()))
    def fuzz(item: MapInput) -> None:
        start = time.perf_counter()
        outcomes = check_map(item, path, timeout)
        tally.record("map", item.target, outcomes, item.data, time.perf_counter() - start, ".txt")

    started = time.perf_counter()
    fuzz()
    print(f"  maps: {examples} inputs in {time.perf_counter() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="save inputs (split over the three families)")
    parser.add_argument("--map-examples", type=int, default=None, help="map inputs (default: --examples)")
    parser.add_argument("--json", type=Path, help="write the counts and findings here")
    parser.add_argument("--memory-gib", type=float, default=6.0, help="RLIMIT_AS for this process (0: none)")
    parser.add_argument("--timeout", type=int, default=30, help="seconds one call may take (a hang otherwise)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--findings-dir", type=Path, default=Path("/tmp/fuzz-findings"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.memory_gib > 0:
        limit = int(args.memory_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    tally = Tally(args.findings_dir)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-saves-") as work:
        print(f"fuzzing saves ({args.examples} inputs) and maps, RLIMIT_AS {args.memory_gib} GiB", flush=True)
        run_saves(args.examples, Path(work), tally, args.timeout, args.seed)
        map_examples = args.examples if args.map_examples is None else args.map_examples
        run_maps(map_examples, Path(work), tally, args.timeout, args.seed)
    report = tally.report()
    report.update(seconds=round(time.perf_counter() - started, 1), examples=args.examples,
                  map_examples=map_examples, memory_gib=args.memory_gib, seed=args.seed,
                  max_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(f"\ninputs per target ({sum(tally.inputs.values())} in all):")
    for target, count in report["inputs"].items():
        print(f"  {count:6d}  {target}")
    print("\noutcomes per call:")
    for call, counts in report["outcomes"].items():
        print(f"  {call}:")
        for reason, count in counts.items():
            print(f"    {count:6d}  {reason}")
    print("\nrefusals through the catch-all (one example each):")
    for reason, example in report["unanticipated_examples"].items():
        print(f"  {reason}: {example}")
    print(f"\nfindings: {len(report['findings'])}")
    for finding in report["findings"]:
        print(f"  [{finding['count']}x] {finding['call']}: {finding['kind']}: {finding['message'][:300]!r}\n"
              f"        target {finding['target']}, reproducer {finding['reproducer']}")
    print(f"\n{report['seconds']} s, peak RSS {report['max_rss_mib']} MiB, slowest input "
          f"{report['slowest_input_s']} s ({report['slowest_target']})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
