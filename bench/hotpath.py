"""Matching cost without sockets: ``Engine.resolve`` for case 1's request, in-process.

Resolves ``GET /v1.0/proj/clusters`` against case 1's scenario and against case 2's generated
1,000 rules, whole and without their regex-path rules (which the index cannot prune), and prints
the best of several timeit repeats per variant. No server, no load: a quick check that the index
keeps a large scenario cheap.

    .venv/bin/python bench/hotpath.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

from multidict import CIMultiDict, MultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import STATIC_PATH, STATIC_SCENARIO, thousand_rules

from mockserver.engine import Engine
from mockserver.request import RequestSnapshot
from mockserver.scenario import load_paths


def engine_for(folder: Path, name: str, rules: list[dict[str, Any]]) -> Engine:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"name": name, "rules": rules}))
    return Engine(load_paths([path]))


def main() -> int:
    snapshot = RequestSnapshot("GET", STATIC_PATH, query=MultiDict(), headers=CIMultiDict({"Host": "bench"}))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules = json.loads(thousand_rules(folder).read_text())["rules"]
        variants = {
            "case 1 scenario (2 rules)": Engine(load_paths([STATIC_SCENARIO])),
            "case 2: 1,000 rules": engine_for(folder, "all", rules),
            "case 2 without its regex-path rules": engine_for(
                folder, "noregex", [r for r in rules if not r["name"].startswith("regex-")]
            ),
            "case 2 without regex paths and near misses": engine_for(
                folder, "indexed", [r for r in rules if not r["name"].startswith(("regex-", "near-"))]
            ),
        }
        print("| rules | count | candidates | resolve µs (best of 7) |")
        print("|---|---:|---:|---:|")
        for label, engine in variants.items():
            won = engine.resolve(snapshot).rule
            assert won is not None, label
            assert won.id.endswith("clusters-unavailable"), won.id
            number = 2000
            best = min(timeit.repeat(lambda e=engine: e.resolve(snapshot), number=number, repeat=7)) / number
            candidates = len(engine.index.candidates(snapshot.path, snapshot.method))
            print(f"| {label} | {len(engine.rules)} | {candidates} | {best * 1e6:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
