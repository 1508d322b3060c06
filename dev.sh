#!/usr/bin/env bash
# The one entry point of pyhs3_lab's development: set-up, tests, the lab and a headless demo.
#
#   ./dev.sh lab     set everything up and open the tutorial notebook in JupyterLab
#   ./dev.sh demo [FILE [FIT-OPTIONS]]   set up Python only; print a workspace's summary and fit it (headless)
#   ./dev.sh test    set everything up and run the whole suite: ruff, mypy, JS checks, pytest (all markers)
#   ./dev.sh setup   only set up (idempotent; what lab and test do first)
#   ./dev.sh check   only the static checks (ruff, mypy, JS typecheck/unit tests)
#
# Set-up is idempotent: .venv/ is created once; pip and npm run again only when pyproject.toml,
# package.json/package-lock.json or DEV_PACKAGES change (stamp files keyed on their hashes). Installer
# output goes to .dev-logs/; a failing step prints the end of its log.
# Extra arguments of `test` go to pytest, e.g. `./dev.sh test -m roofit -x`.
set -euo pipefail

cd "$(dirname "$0")"
HERE="$(pwd)"
VENV="$HERE/.venv"
LOGS="$HERE/.dev-logs"
mkdir -p "$LOGS"

# Packages the developer tools need beyond pyproject's extras (every extra pyproject defines is installed too).
# root: CERN ROOT from PyPI (~250 MB), RooFit is the oracle of tests/test_roofit_oracle.py.
DEV_PACKAGES=(ruff mypy root jupyterlab)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror: %s\033[0m\n' "$*" >&2; exit 1; }

# run LOGNAME CMD...: run quietly into .dev-logs/LOGNAME.log; on failure show the log's end and stop.
run() {
    local log="$LOGS/$1.log"
    shift
    if ! "$@" >"$log" 2>&1; then
        printf '\033[31merror: `%s` failed; last lines of %s:\033[0m\n' "$*" "$log" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-32; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $* (install it by hand)"
    fi
}

setup_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating .venv"
        local py
        py="$(command -v python3 || command -v python || true)"
        [ -n "$py" ] || die "python3 not found"
        run venv "$py" -m venv "$VENV"
    fi
    # shellcheck disable=SC1091
    . "$VENV/bin/activate"
    local stamp="$VENV/.pyhs3-lab-stamp" want
    want="$( (cat pyproject.toml; echo "${DEV_PACKAGES[*]}") | sha256sum | cut -c1-32)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && (cd / && python -c "
import sys, pyhs3_lab
sys.exit(0 if pyhs3_lab.__file__.startswith('$HERE/') else 1)" 2>/dev/null); then
        return  # installed, and the editable install points at this checkout
    fi
    local extras
    extras="$(python - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    print(",".join(tomllib.load(f)["project"].get("optional-dependencies", {})))
EOF
)"
    say "installing Python packages (.[${extras}] ${DEV_PACKAGES[*]}; log: .dev-logs/pip.log)"
    run pip-upgrade python -m pip install --upgrade pip
    run pip python -m pip install -e ".[${extras}]" "${DEV_PACKAGES[@]}"
    python -c "import ROOT; ROOT.RooJSONFactoryWSTool" >"$LOGS/root-check.log" 2>&1 \
        || say "warning: ROOT installed but does not import (see .dev-logs/root-check.log); roofit tests will skip"
    echo "$want" >"$stamp"
}

setup_browser() {
    if [ -x /usr/bin/chromium ]; then
        return
    fi
    say "installing Debian chromium for the browser tests (log: .dev-logs/apt.log)"
    run apt-update as_root apt-get update
    run apt as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-liberation
}

has_npm_script() {
    [ -f package.json ] && node -e "process.exit(require('./package.json').scripts?.['$1'] ? 0 : 1)"
}

setup_js() {
    [ -f package.json ] || return 0
    command -v npm >/dev/null || die "package.json exists but npm is not installed (install Node.js 20 and npm)"
    local stamp="node_modules/.pyhs3-lab-stamp" want
    want="$(hash_of package.json package-lock.json)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing npm packages (log: .dev-logs/npm-install.log)"
        if [ -f package-lock.json ]; then
            if ! npm ci --no-audit --no-fund >"$LOGS/npm-install.log" 2>&1; then
                if grep -q "EUSAGE" "$LOGS/npm-install.log"; then
                    printf '\033[33mwarning: package-lock.json is out of sync with package.json (npm ci refused; '
                    printf 'see .dev-logs/npm-install.log); running npm install, which rewrites the lock\033[0m\n'
                    run npm-install npm install --no-audit --no-fund
                else
                    printf '\033[31merror: `npm ci` failed; last lines of %s:\033[0m\n' "$LOGS/npm-install.log" >&2
                    tail -n 40 "$LOGS/npm-install.log" >&2
                    exit 1
                fi
            fi
        else
            run npm-install npm install --no-audit --no-fund
        fi
        echo "$want" >"$stamp"
    fi
    if has_npm_script build; then
        say "building the front end (log: .dev-logs/npm-build.log)"
        run npm-build npm run build
    fi
    link_jupyter_files
}

# What `pip install` of the wheel puts into the environment's share/ and etc/ (an editable install copies
# them once, before the front end is built): the prebuilt lab extension (the .hs3.json viewer) and the
# configuration that enables the server extension. Links, so that a rebuild is seen at once.
link_jupyter_files() {
    local prefix
    prefix="$(python -c 'import sys; print(sys.prefix)')"
    local ext="$prefix/share/jupyter/labextensions/pyhs3_lab"
    local conf="$prefix/etc/jupyter/jupyter_server_config.d/pyhs3_lab.json"
    if [ -f pyhs3_lab/labextension/package.json ]; then
        mkdir -p "$(dirname "$ext")"
        # an editable install may have copied an older build there: the link replaces the copy
        [ -L "$ext" ] || rm -rf "$ext"
        ln -sfn "$HERE/pyhs3_lab/labextension" "$ext"
    fi
    mkdir -p "$(dirname "$conf")"
    ln -sf "$HERE/jupyter-config/jupyter_server_config.d/pyhs3_lab.json" "$conf"
}

setup_all() {
    setup_python
    setup_browser
    setup_js
}

# --- the checks --------------------------------------------------------------------------------------

FAILED=()

check() {  # check NAME CMD...: run, show output, remember failures (every check runs)
    local name="$1"
    shift
    say "$name"
    if ! "$@"; then
        FAILED+=("$name")
    fi
}

static_checks() {
    check "ruff check" ruff check .
    check "mypy --strict (pyhs3_lab)" mypy pyhs3_lab
    if has_npm_script typecheck; then check "npm run typecheck" npm run --silent typecheck; fi
    if has_npm_script test; then check "npm test (vitest)" npm test --silent; fi
}

cmd_test() {
    setup_all
    local t0=$SECONDS
    static_checks
    if [ ${#FAILED[@]} -gt 0 ]; then
        printf '\033[31mfailed before pytest: %s\033[0m\n' "${FAILED[*]}"
    else
        say "static checks passed ($((SECONDS - t0)) s)"
    fi
    say "pytest (all markers)"
    local rc=0
    python -m pytest "$@" || rc=$?
    if [ "$rc" = 5 ]; then
        echo "error: pytest collected no tests" >&2
        exit 5
    fi
    if [ "$rc" != 0 ]; then exit "$rc"; fi
    if [ ${#FAILED[@]} -gt 0 ]; then exit 1; fi
}

cmd_check() {
    setup_python
    setup_js
    static_checks
    if [ ${#FAILED[@]} -gt 0 ]; then
        die "failed: ${FAILED[*]}"
    fi
    say "all static checks passed"
}

cmd_lab() {
    setup_python
    setup_js
    local nb
    nb="$(ls notebooks/01-*.ipynb 2>/dev/null | head -n 1 || true)"
    local args=(--ServerApp.root_dir="$HERE")
    [ "$(id -u)" = 0 ] && args+=(--allow-root)
    [ -n "${CI:-}" ] && args+=(--no-browser)
    say "starting JupyterLab${nb:+ on $nb} (Ctrl+C to stop)"
    exec jupyter lab "${args[@]}" "$@" ${nb:+"$nb"}
}

cmd_demo() {
    setup_python
    local file="${1:-}" fit_args=()
    if [ -z "$file" ]; then
        # a ROOT-written unbinned 3-channel model; the HS3 likelihoods L_ch0..2 sum to the combined fit
        file=../shared/workspaces/pyhs3-benchmarks/3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json
        fit_args=(--all-likelihoods --minos mu_sig)
    else
        shift
        fit_args=("$@")
    fi
    [ -f "$file" ] || die "no such file: $file (the shared workspaces are expected in ../shared/workspaces)"
    say "pyhs3-lab info $file"
    pyhs3-lab info "$file"
    say "pyhs3-lab fit ${fit_args[*]} $file"
    pyhs3-lab fit "${fit_args[@]}" "$file"
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    lab) shift; cmd_lab "$@" ;;
    demo) shift; cmd_demo "$@" ;;
    setup) setup_all; say "set up" ;;
    check) cmd_check ;;
    *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
