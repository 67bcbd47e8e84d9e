"""Stand-in for the probe subprocess, used by test_compat_runner.py.

Usage: python fake_probe.py MODE [PIDFILE]
  ok            print noise, then a valid result line
  ok-then-hang  print a valid result line, then hang (teardown hang)
  raise         die with an ImportError traceback (no result line)
  hang          sleep far past any test timeout
  compile-hang  announce a JIT compile, start a grandchild (its pid -> PIDFILE), sleep
  segv          kill itself with SIGSEGV
  garbage       print a result marker followed by invalid JSON, exit 3
"""

import json
import os
import signal
import subprocess
import sys
import time

mode = sys.argv[1]
if mode in ("ok", "ok-then-hang"):
    print("some library chatter on stdout")
    print("FIBENCH_COMPAT_RESULT " + json.dumps({
        "name": "act.silu_and_mul", "family": "activations", "status": "works",
        "detail": "matches torch fp32 reference", "modules": [{"name": "silu_and_mul", "state": "jit-cache"}],
        "elapsed_s": 0.5,
    }), flush=True)
    if mode == "ok-then-hang":
        time.sleep(120)
elif mode == "raise":
    raise ImportError("cannot import name 'silu_and_mul' from 'flashinfer.activation'")
elif mode == "hang":
    time.sleep(120)
elif mode == "compile-hang":
    print("fibench-compat: compiling JIT module fused_moe_90", file=sys.stderr, flush=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(sys.argv[2], "w") as f:
        f.write(str(child.pid))
    time.sleep(120)
elif mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "garbage":
    print("FIBENCH_COMPAT_RESULT {not json")
    sys.exit(3)
