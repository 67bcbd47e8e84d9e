# Device call F (two H200s): #8 first-round hypotheses; fixed GPU tests; aligned collective trace.
set -u
T0=$(date +%s); log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
source .gpu/setup.sh; for d in .gpu/jitd .gpu/jit; do JITSRC=$d bash .gpu/calls/jitcache.sh unpack; done
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=/tmp/rF; mkdir -p $R/a
step() { local dir=$1 name=$2 limit=$3; shift 3; log "start $name"; ( /usr/bin/time -f "$name wall %e s" timeout -k 5 $limit "$@" ) > $dir/$name.log 2>&1; echo "$name rc=$? $(tail -1 $dir/$name.log)"; }
pack() { tar czf $OUT/callF.tgz -C $R a; }
step $R/a first-round 120 python3 investigation/first_round.py --out $R/a/first-round; cat $R/a/first-round.log | grep step; pack
step $R/a allreduce 80 python3 -m fibench run allreduce --gpus 2 --model llama-3-70b --sizes 16,1024 --jit never --out $R/a/allreduce-aligned; pack
step $R/a pytest 200 python3 -m pytest -q -p no:cacheprovider -rA tests/measure/test_gpu_timers.py tests/suites/test_attention_gpu.py::test_prefill_backends_match_the_reference tests/suites/test_attention_gpu.py::test_gpt_oss_prefill_with_sinks_and_window tests/distributed/test_dist_gpu.py::test_traced_collective_kernels_do_not_count_the_ranks_launch_skew; tail -15 $R/a/pytest.log; pack
log done
