#!/usr/bin/env bash
# bench/run.sh BUILD_DIR : runs the benchmarks and rewrites docs/BENCHMARKS.md with the results
# and the command that produced them. Machines are shared and noisy: compare numbers taken in
# the same run (the raw scalar-multiplication cost is measured beside the server's rate).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
out=docs/BENCHMARKS.md
oprf_json=$("$B/bench/bench_oprf" --json)
thr_json=$("$B/bench/bench_threshold" "$B/medvault" --json)
echo "$oprf_json"
echo "$thr_json"
python3 - "$out" "$oprf_json" "$thr_json" <<'PY'
import json, sys, datetime, platform, subprocess
out, a, b = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
with open(out, "w") as f:
    f.write("# Benchmarks\n\n")
    f.write(f"Produced by `make bench` (= `bash bench/run.sh build`) on {datetime.date.today()}, commit {commit}, "
            f"{cpu}, {platform.system()} {platform.release()}. The machine is shared: read ratios "
            "between numbers of the same run, not absolute values.\n\n")
    f.write("## Threshold VOPRF key server (issue 2)\n\n")
    f.write("### Raw compute, one thread, in-process (`bench/bench_oprf.c`)\n\n```json\n")
    f.write(json.dumps(a, indent=2) + "\n```\n\n")
    f.write("### Through real processes on loopback (`bench/bench_threshold.c`)\n\n```json\n")
    f.write(json.dumps(b, indent=2) + "\n```\n")
PY
echo "wrote $out"
