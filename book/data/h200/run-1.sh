#!/bin/bash
# The GPU recording: Chapter 5's experiments, the timer check, the CUDA unit tests, every twin under nbval.
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/src
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv;
  python3 -c "import torch,sys,platform; print('torch',torch.__version__,'cuda',torch.version.cuda,'cudnn',torch.backends.cudnn.version(),torch.cuda.get_device_name(),'python',platform.python_version())";
  python3 -m pip list 2>/dev/null | grep -i -E "^(torch|numpy|triton|pytest|hypothesis|matplotlib|scikit-learn|pytest-xdist) "; lscpu | grep "Model name"; } > $OUT/machine.txt 2>&1
cat $OUT/machine.txt
echo "== experiments $(( $(date +%s) - T0 )) s"
timeout -s INT 320 python3 -m onebyone.perf.experiments --device cuda --out $OUT/h200.csv --size full --rounds 3 --no-progress 2>&1 | tail -15 | tee $OUT/experiments.log
ls -la $OUT
echo "== validate_timer $(( $(date +%s) - T0 )) s"
timeout 70 python3 benchmarks/validate_timer.py --device cuda --out $OUT/validate_timer_h200.csv 2>&1 | tail -12 | tee $OUT/validate_timer.log; echo "validate rc ${PIPESTATUS[0]}"
echo "== nbval $(( $(date +%s) - T0 )) s"
timeout 120 python3 -m pytest notebooks --nbval-lax --nbval-current-env -p no:cacheprovider -n 6 --dist loadscope -q -W ignore > $OUT/nbval.log 2>&1; echo "nbval rc $?"; tail -40 $OUT/nbval.log
echo "== unit tests on CUDA $(( $(date +%s) - T0 )) s"
timeout 50 python3 -m pytest tests/test_timing.py tests/test_suite.py tests/test_experiments.py tests/test_kernels.py tests/test_precision.py tests/test_machine.py -p no:cacheprovider -n 8 -q -x > $OUT/unit.log 2>&1; echo "unit rc $?"; tail -25 $OUT/unit.log
echo "== end $(( $(date +%s) - T0 )) s"
