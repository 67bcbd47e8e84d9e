# Device call H (one H200): #8 same code three times with the process warm-up rounds; compare.
set -u
T0=$(date +%s); log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
source .gpu/setup.sh; JITSRC=.gpu/jitd bash .gpu/calls/jitcache.sh unpack
R=/tmp/rH; mkdir -p $R/a; nvidia-smi > $R/a/nvidia-smi.txt 2>&1
step() { local dir=$1 name=$2 limit=$3; shift 3; log "start $name"; ( /usr/bin/time -f "$name wall %e s" timeout -k 5 $limit "$@" ) > $dir/$name.log 2>&1; echo "$name rc=$? $(tail -1 $dir/$name.log)"; }
pack() { tar czf $OUT/callH.tgz -C $R a; }
N="python3 -m fibench run norm --model llama-3-8b --op rmsnorm --backends flashinfer --reference flashinfer --sizes 1,128,4096,32768 --no-per-kernel"
for x in a b c; do step $R/a same-$x 50 $N --out $R/a/norm-same-$x; done; pack
step $R/a compare-ab 30 python3 -m fibench compare $R/a/norm-same-a $R/a/norm-same-b --out $R/a/compare-ab
step $R/a compare-ac 30 python3 -m fibench compare $R/a/norm-same-a $R/a/norm-same-c --out $R/a/compare-ac; pack
grep -h "matched rows" $R/a/compare-*/compare.md
python3 -c "
import pandas as pd
for x in 'abc':
    d=pd.read_csv('$R/a/norm-same-%s/results.csv'%x)
    print(x, d[['case_id','median_us','median_ci_low_us','median_ci_high_us','round_spread_pct']].round(3).to_string(index=False, header=False))
"
log done
