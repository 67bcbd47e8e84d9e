# Device call I (one H200): #8 same code twice on the default norm sweep (torch reference and every backend).
set -u
T0=$(date +%s); log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
source .gpu/setup.sh; JITSRC=.gpu/jitd bash .gpu/calls/jitcache.sh unpack
R=/tmp/rI; mkdir -p $R/a
step() { local dir=$1 name=$2 limit=$3; shift 3; log "start $name"; ( /usr/bin/time -f "$name wall %e s" timeout -k 5 $limit "$@" ) > $dir/$name.log 2>&1; echo "$name rc=$? $(tail -1 $dir/$name.log)"; }
pack() { tar czf $OUT/callI.tgz -C $R a; }
N="python3 -m fibench run norm --model llama-3-8b --sizes 1,16,128,1024,4096,32768"
step $R/a default-a 80 $N --out $R/a/norm-default-a; pack
step $R/a default-b 80 $N --out $R/a/norm-default-b; pack
step $R/a compare 30 python3 -m fibench compare $R/a/norm-default-a $R/a/norm-default-b --out $R/a/compare-default; pack
grep -h "matched rows" $R/a/compare-default/compare.md; grep "| unsure\|| slower\|| faster" $R/a/compare-default/compare.md
log done
