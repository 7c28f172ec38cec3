"""scripts/demo.sh, the README's main-job command, on the embedded defaults: it runs end to end and writes its report,
and run again over its own output (what a user does after changing nothing) it resumes every step instead of
failing."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_runs_end_to_end_and_again_over_its_own_output(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "OUT": str(out)}
    for attempt in ("first", "again"):
        run = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True, env=env,
                             timeout=1200, cwd=ROOT)
        assert run.returncode == 0, f"{attempt}: {run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        report = (out / "REPORT.md").read_text()
        for part in ("## Source-count models", "## Realisation 3", "## The dataset", "## Training",
                     "## N(S) predicted"):
            assert part in report, (attempt, part)
    # the second run trained nothing and says so where the epochs were
    assert "training already complete" in report
    assert (out / "train" / "best.weights.h5").exists() and (out / "predict" / "prediction.png").exists()
