# Device call G (two H200s): #8 first-round causes (three fresh processes); aligned collective trace with a 1 ms spin.
set -u
T0=$(date +%s); log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
source .gpu/setup.sh; JITSRC=.gpu/jitd bash .gpu/calls/jitcache.sh unpack
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=/tmp/rG; mkdir -p $R/a
step() { local dir=$1 name=$2 limit=$3; shift 3; log "start $name"; ( /usr/bin/time -f "$name wall %e s" timeout -k 5 $limit "$@" ) > $dir/$name.log 2>&1; echo "$name rc=$? $(tail -1 $dir/$name.log)"; }
pack() { tar czf $OUT/callG.tgz -C $R a; }
FR="python3 investigation/first_round.py --plain 4"
step $R/a fr-control 45 $FR --out $R/a/fr-control; grep round $R/a/fr-control.log
step $R/a fr-copies2 60 $FR --copies-scale 2 --out $R/a/fr-copies2; grep round $R/a/fr-copies2.log
step $R/a fr-prime16 60 $FR --prime-size 16 --prime-rounds 2 --out $R/a/fr-prime16; grep round $R/a/fr-prime16.log; pack
step $R/a allreduce 80 python3 -m fibench run allreduce --gpus 2 --model llama-3-70b --sizes 16,1024 --jit never --out $R/a/allreduce-aligned; pack
python3 -c "import pandas as pd; d=pd.read_csv('$R/a/allreduce-aligned/results.csv'); d=d[d.status=='ok']; print(d[['case_id','backend','median_us','kernel_sum_us']].to_string())"
step $R/a pytest 60 python3 -m pytest -q -p no:cacheprovider -rA tests/measure/test_gpu_timers.py::test_cupti_replay_plan_agrees_with_events; tail -3 $R/a/pytest.log; pack
log done
