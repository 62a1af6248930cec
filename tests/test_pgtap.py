"""Each pgTAP file of pgtap/ is one test, run by psql in the shared test database.

It passes only when psql succeeds, the plan is met and no assertion says 'not ok';
a failure shows the failing assertions with pgTAP's diagnostics."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from pgcluster import Cluster

FILES = sorted((Path(__file__).resolve().parent.parent / "pgtap").glob("*.sql"))


def test_pgtap_files_exist() -> None:
    assert FILES, "pgtap/ holds no test file"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_pgtap(path: Path, cluster: Cluster, shared_dsn: str) -> None:
    env = {**os.environ, "PGOPTIONS": "-c search_path=tap -c client_min_messages=warning"}
    proc = subprocess.run(
        [cluster.tool("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
         "-d", shared_dsn, "-f", str(path)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    out = proc.stdout
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    passed = re.findall(r"^ok \d+", out, re.M)
    failed = re.findall(r"^not ok \d+.*(?:\n#.*)*", out, re.M)
    problems = list(failed)
    if proc.returncode != 0:
        problems.append(f"psql exited {proc.returncode}: {proc.stderr.strip()}")
    if plan is None:
        problems.append("no plan printed")
    elif int(plan.group(1)) != len(passed) + len(failed):
        problems.append(f"planned {plan.group(1)} tests, ran {len(passed) + len(failed)}")
    assert not problems, "\n".join(problems) + "\n--- psql output (tail) ---\n" + out[-3000:]
