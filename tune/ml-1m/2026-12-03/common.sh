# shellcheck shell=bash
# Sourced, not run, by this study's scripts (run_study.sh, retrain.sh, anchor_check.sh): the one place that maps the
# study's labels to model classes, picks the interpreter and prints a dry run's command lines.

# study_python ROOT: the interpreter, on stdout: $PYTHON, else ROOT's .venv/bin/python where it exists, else python.
study_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
    elif [ -x "$1/.venv/bin/python" ]; then echo "$1/.venv/bin/python"
    else echo python
    fi
}

# study_model LABEL VARIABLE: the model class of one of the study's labels or of a hybrid's no-graph twin
# (`<hybrid>-nograph`, the pipeline's control: its recipe with gnn_layers: 0), on stdout; any other label is refused
# with a line naming VARIABLE, the setting it came from (status 2).
study_model() {
    case "$1" in
        SASRec|HybridDiscrete|HybridContinuous|HybridDiscrete-nograph|HybridContinuous-nograph) echo "${1%-nograph}" ;;
        HybridResidual-fused|HybridResidual-fused-nograph) echo HybridResidual ;;
        *) echo "error: $2: $1 is not a label of this study" >&2; return 2 ;;
    esac
}

# study_label LABEL PYTHON RESULTS: LABEL on stdout, where `best` becomes the study's best hybrid, the one of
# HYBRID_LABELS whose three retrained seeds in RESULTS score best on validation (`experiments best`, which prints
# each one's mean on stderr and refuses while a seed is missing), and `best-nograph` that hybrid's no-graph twin.
HYBRID_LABELS="HybridDiscrete HybridContinuous HybridResidual-fused"
study_label() {
    case "$1" in
        best|best-nograph)
            local best
            best="$("$2" -m recbole_hybrid experiments best --dataset=ml-1m --preset=tuned-fs --runs_dir="$3" \
                --models="${HYBRID_LABELS// /,}" --seeds=3)" || return 2
            echo "$best${1#best}" ;;
        *) echo "$1" ;;
    esac
}

# study_run DRY MESSAGE COMMAND...: where DRY is 1, print COMMAND's line (shell-quoted) instead of running it;
# otherwise print MESSAGE and run it.
study_run() {
    local dry="$1" message="$2"
    shift 2
    if [ "$dry" = 1 ]; then
        printf '%q ' "$@"
        echo
    else
        echo "$message"
        "$@"
    fi
}
