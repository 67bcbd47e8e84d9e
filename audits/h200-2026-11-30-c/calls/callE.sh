# Device call E (two H200s): #8 rotation layout (alloc vs slab) + same code twice with slab;
# barrier before traced collectives (NCCL only, --jit never); #11 llama31_rope last.
set -u
T0=$(date +%s); log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
source .gpu/setup.sh; JITSRC=.gpu/jitd bash .gpu/calls/jitcache.sh unpack
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=/tmp/rE; mkdir -p $R/a; nvidia-smi > $R/nvidia-smi.txt 2>&1; python3 -m fibench env > $R/fibench-env.txt 2>&1
step() { local dir=$1 name=$2 limit=$3; shift 3; log "start $name"; ( /usr/bin/time -f "$name wall %e s" timeout -k 5 $limit "$@" ) > $dir/$name.log 2>&1; echo "$name rc=$? $(tail -1 $dir/$name.log)"; }
pack() { tar czf $OUT/callE.tgz -C $R a nvidia-smi.txt fibench-env.txt; }
F="python3 -m fibench run"
N="python3 -m fibench run norm --model llama-3-8b --op rmsnorm --backends flashinfer --reference flashinfer --sizes 1,128,4096,32768 --no-per-kernel"
step $R/a layout 110 python3 investigation/rotation_layout.py --out $R/a/layout; pack
step $R/a slab-a 50 bash -c "cd .gpu/slab && $N --out $R/a/norm-slab-a"
step $R/a slab-b 50 bash -c "cd .gpu/slab && $N --out $R/a/norm-slab-b"
step $R/a compare-slab 30 python3 -m fibench compare $R/a/norm-slab-a $R/a/norm-slab-b --out $R/a/compare-slab; pack
step $R/a allreduce 80 $F allreduce --gpus 2 --model llama-3-70b --sizes 16,1024 --jit never --out $R/a/allreduce-barrier; pack
left=$(( 585 - ($(date +%s) - T0) )); log "rope gets $left s"
step $R/a rope $left $F rope --model llama-3.1-8b --op llama31_rope --sizes 128,4096,32768,1 --per-kernel --target-noise 1% --out $R/a/rope-llama31; pack
ls -la $OUT; log done
