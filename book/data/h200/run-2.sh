#!/bin/bash
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/src
echo "== validate_timer $(( $(date +%s) - T0 )) s"
timeout 60 python3 benchmarks/validate_timer.py --device cuda --out $OUT/validate_timer_h200.csv 2>&1 | tail -12; echo "validate rc ${PIPESTATUS[0]}"
# .devrun/referees.py was book/data/h200/referees.py, with "benchmarks" put on sys.path by a relative path
echo "== referees $(( $(date +%s) - T0 )) s"
timeout 40 python3 .devrun/referees.py 2>&1 | tail -8 | tee $OUT/referees.txt
echo "== nbval $(( $(date +%s) - T0 )) s"
timeout 130 python3 -m pytest notebooks --nbval-lax --nbval-current-env -p no:cacheprovider -n 6 --dist loadscope -q -W ignore > $OUT/nbval.log 2>&1; echo "nbval rc $?"; grep -E "^(FAILED|E |.*Error)|passed|failed" $OUT/nbval.log | tail -30
echo "== cuda-graph experiments $(( $(date +%s) - T0 )) s"
timeout -s INT 75 python3 -m onebyone.perf.experiments --device cuda --out $OUT/h200-cuda-graph.csv --size full --rounds 3 --cuda-graph --experiments same_math,roofline_sweep --no-progress 2>&1 | tail -6
ls -la $OUT
echo "== end $(( $(date +%s) - T0 )) s"
