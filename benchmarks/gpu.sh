#!/usr/bin/env bash
# Paper scale on one GPU, ready to measure: every row of benchmarks/gpu.py (its docstring says what
# they are) in one run, sized for <= 8 minutes on one H100/H200-class GPU (a target: no GPU has run it yet). Run from the repository root:
#   bash benchmarks/gpu.sh [--json FILE] [--dry-run] [any other benchmarks/gpu.py option]
# It prints one table and writes it as JSON (default benchmarks/gpu_results.json).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$root/.venv/bin/python" ]]; then
  python="$root/.venv/bin/python"
else
  python="python3"
fi
exec "$python" "$root/benchmarks/gpu.py" "$@"
