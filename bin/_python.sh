# shellcheck shell=bash
# Sourced by bin/demo and bin/test: finds a Python >= 3.12 and prepares .venv.
# Looks on PATH first, then inside pyenv (whose version shims fail unless selected).

find_python() {
    local candidate
    for candidate in python3.14 python3.13 python3.12 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local root version
        root=$(pyenv root)
        for version in $(ls -1 "$root/versions" 2>/dev/null | sort -rV); do
            candidate="$root/versions/$version/bin/python3"
            if [ -x "$candidate" ] &&
                "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
                echo "$candidate"
                return 0
            fi
        done
    fi
    return 1
}

# ensure_venv REQUIREMENTS_FILE: creates .venv once and installs what the file pins (again only when it changed).
ensure_venv() {
    local requirements=$1
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        local python
        if ! python=$(find_python); then
            echo "Countdown Guard needs Python 3.12 or newer; none was found on PATH or in pyenv." >&2
            echo "Install one (e.g. 'pyenv install 3.13') and run this command again." >&2
            exit 1
        fi
        echo "Creating .venv with $python ($("$python" --version))"
        rm -rf .venv
        "$python" -m venv .venv
    fi
    local stamp
    stamp=".venv/.installed-$(basename "$requirements")"
    # requirements-dev.txt includes requirements.txt, so its stamp covers both.
    if _installed "$stamp"; then
        return 0
    fi
    if [ "$requirements" = requirements.txt ] && _installed .venv/.installed-requirements-dev.txt; then
        return 0
    fi
    echo "Installing the pinned dependencies ($requirements) into .venv"
    # -qq: errors only; pip's warnings about this machine's own configuration are not ours to show.
    .venv/bin/python -m pip install -qq --upgrade pip
    .venv/bin/python -m pip install -qq -r "$requirements"
    touch "$stamp"
}

# _installed STAMP: true when STAMP exists and no requirements file changed since it was made.
_installed() {
    [ -f "$1" ] && [ -z "$(find requirements*.txt -newer "$1" 2>/dev/null)" ]
}
