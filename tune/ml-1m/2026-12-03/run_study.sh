#!/usr/bin/env bash
# The ML-1M study of 2026-12-03 (README.md beside this file): its four searches one after another, always in this
# order: sasrec, hybriddiscrete, hybridcontinuous, hybridresidual-fused, each with the same budget (24 trials, Optuna
# TPE with search seed 2020, ASHA grace 8 / reduction 3 / max_t 200). Run it again after a stop, here or on another
# machine: a search whose tuned file exists has finished and is skipped; one whose Ray folder exists continues with
# --resume; one whose Ray folder is gone but whose trials.csv is there is rebuilt from it (--rebuild_from: finished
# trials are not run again); any other starts.
#
#   DATA_PATH=../shared/data tune/ml-1m/2026-12-03/run_study.sh
#   nohup env DATA_PATH=../shared/data tune/ml-1m/2026-12-03/run_study.sh >> study.log 2>&1 &   # in the background
#   kill "$(cat ~/recbole-hybrid-state/tune/run_study.pid)"     # stop it: the running search saves and stops
#
# Environment:
#   DATA_PATH              required: the folder that holds ml-1m/ (--data_path), relative to where you start it
#   STUDY_STATE            Ray's experiment folders, outside the work tree (default: $HOME/recbole-hybrid-state/tune)
#   STUDY_MODELS           the spaces to run, in order (default: the four above)
#   STUDY_MAX_CONCURRENT   trials at once (default 2)      STUDY_CPUS_PER_TRIAL   CPUs per trial (default 1)
#   STUDY_GPUS_PER_TRIAL   GPUs per trial (default: the search's, 1 where Ray sees a GPU, else 0)
#   STUDY_RETRIES          a search that fails is continued (--resume) up to this many times (default 3),
#   STUDY_RETRY_WAIT_S     after this many seconds (default 60)
#   STUDY_DRY_RUN=1        print each search's command line instead of running it
#   PYTHON                 the interpreter (default: the checkout's .venv/bin/python where it exists, else python)
# Trials land in tune/ml-1m/2026-12-03/trials/<Model>/ (trials.csv and curves.csv rewritten as each trial ends:
# commit them as they come); the tuned property file and curves.png when a search ends.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
: "${DATA_PATH:?set DATA_PATH to the folder that holds ml-1m/ (e.g. DATA_PATH=../shared/data)}"
data="$(cd "$DATA_PATH" && pwd)"
state="${STUDY_STATE:-$HOME/recbole-hybrid-state/tune}"
trials="${STUDY_TRIALS_DIR:-$here/trials}"
python="$(study_python "$root")"
state="$(realpath -m "$state")"
case "$state/" in
    "$root"/*) echo "error: STUDY_STATE=$state is inside the work tree $root: keep Ray's folders outside it" >&2
               exit 2 ;;
esac
mkdir -p "$state"
# Ray starts its workers at niceness 15: beside any other job on the machine the trials would then get almost no
# CPU, and their CPU-hours in the budget table would count waiting. They run at the niceness of this script.
export RAY_worker_niceness="${RAY_worker_niceness:-0}"
cd "$root"  # RecBole's relative defaults (saved/graph_cache) in the checkout, as for every command

# A stop (TERM or INT to this script) is handed to the running search as Ctrl-C: Ray saves the experiment, the search
# writes its trials so far, and the script ends without starting the next one.
child="" stopping=0
trap 'stopping=1; if [ -n "$child" ]; then kill -INT "$child" 2>/dev/null || true; fi' INT TERM
echo $$ > "$state/run_study.pid"

search() {
    if [ "${STUDY_DRY_RUN:-0}" = 1 ]; then
        printf '%q ' "$python" "$root/tune/search.py" "$@"
        echo
        return 0
    fi
    "$python" "$root/tune/search.py" "$@" &
    child=$!
    local status=0
    while :; do
        wait "$child" && status=0 || status=$?
        kill -0 "$child" 2>/dev/null || break  # wait returned for a trapped signal: the search is still saving
    done
    child=""
    return "$status"
}

for space in ${STUDY_MODELS:-sasrec hybriddiscrete hybridcontinuous hybridresidual-fused}; do
    case "$space" in
        sasrec) model=SASRec label=SASRec ;;
        hybriddiscrete) model=HybridDiscrete label=HybridDiscrete ;;
        hybridcontinuous) model=HybridContinuous label=HybridContinuous ;;
        hybridresidual-fused) model=HybridResidual label=HybridResidual-fused ;;
        *) echo "error: STUDY_MODELS: no space $space in $here" >&2; exit 2 ;;
    esac
    name="ml-1m-2026-12-03-$space"
    out="$trials/$label"
    tuned="$out/$model-ml-1m.yaml"
    if [ -f "$tuned" ]; then
        echo "$label: finished ($tuned), skipped"
        continue
    fi
    budget=(--model="$model" --dataset=ml-1m --data_path="$data" --space="$here/$space.yaml" --sequence_only
            --search=optuna --search_seed=2020 --num_samples=24
            --scheduler=asha --grace_period=8 --reduction_factor=3 --max_t=200
            --max_concurrent="${STUDY_MAX_CONCURRENT:-2}" --cpus_per_trial="${STUDY_CPUS_PER_TRIAL:-1}"
            ${STUDY_GPUS_PER_TRIAL:+--gpus_per_trial="$STUDY_GPUS_PER_TRIAL"}
            --name="$name" --storage_path="$state" --out_dir="$out" --tuned_dir="$out")
    retries="${STUDY_RETRIES:-3}" attempt=0
    while :; do
        status=0
        if [ -d "$state/$name" ]; then
            echo "$label: continuing $state/$name"
            search --resume --name="$name" --storage_path="$state" || status=$?  # the search's own saved options
        elif [ -f "$out/trials.csv" ]; then
            echo "$label: Ray folder $state/$name gone: rebuilding from $out/trials.csv"
            search "${budget[@]}" --rebuild_from="$out/trials.csv" || status=$?
        else
            echo "$label: starting"
            search "${budget[@]}" || status=$?
        fi
        if [ "$status" = 0 ] || [ "$stopping" = 1 ]; then break; fi
        # A search that dies (Ray ends the whole search when its memory monitor kills a trial's actor) continues
        # from what it saved, as a restart by hand would.
        if [ "$attempt" -ge "$retries" ]; then
            echo "$label: the search failed (exit $status) $((attempt + 1)) times: stopped" >&2
            exit "$status"
        fi
        attempt=$((attempt + 1))
        echo "$label: the search failed (exit $status): again in ${STUDY_RETRY_WAIT_S:-60} s" \
             "(retry $attempt of $retries)" >&2
        sleep "${STUDY_RETRY_WAIT_S:-60}" & wait $! || true  # a stop (TERM) interrupts the wait
        if [ "$stopping" = 1 ]; then break; fi
    done
    if [ "$stopping" = 1 ] || { [ "${STUDY_DRY_RUN:-0}" != 1 ] && [ ! -f "$tuned" ]; }; then
        echo "$label: stopped before its last trial; run this script again to continue it" >&2
        exit 130
    fi
done
