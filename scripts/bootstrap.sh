#!/usr/bin/env bash
# Create the virtual environments the demo and the tests use, inside the
# repository, and install what they need. Re-running it is cheap: each
# environment is rebuilt only when its requirements change.
#
#   scripts/bootstrap.sh demo    .venv with the package and requests
#   scripts/bootstrap.sh test    .venv with every test tool (and nox, which
#                                builds the version matrix's environments
#                                itself, see noxfile.py), .venv-legacy with
#                                Flask 2.0, and nginx, curl, graphviz,
#                                chromium, chromium-driver and redis-server
#                                (Debian packages)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-test}
python=${PYTHON:-python3}

# venv_install DIR PROFILE [--no-deps] REQUIREMENTS... : install into DIR
# when a requirements file or pyproject.toml changed since the last
# successful install. --no-deps installs the package itself without its
# dependencies, for pin sets below its metadata floor (Flask 2.0).
venv_install() {
    local dir=$1 name=$2
    shift 2
    local no_deps=0

    if [ "$1" = --no-deps ]; then
        no_deps=1
        shift
    fi

    local stamp
    # Every requirements file: they include each other with -r.
    stamp=$(cat requirements/*.txt pyproject.toml | sha1sum | cut -c1-16)

    if [ -f "$dir/.stamp-$name" ] && [ "$(cat "$dir/.stamp-$name")" = "$stamp" ]; then
        return
    fi

    echo "bootstrap: installing into $dir" >&2
    [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install -qq --disable-pip-version-check --upgrade pip
    local args=()
    for req in "$@"; do args+=(-r "$req"); done

    if [ "$no_deps" = 1 ]; then
        "$dir/bin/python" -m pip install -qq --disable-pip-version-check "${args[@]}"
        "$dir/bin/python" -m pip install -qq --disable-pip-version-check --no-deps -e .
    else
        # One resolution: a pin that contradicts pyproject.toml fails here.
        "$dir/bin/python" -m pip install -qq --disable-pip-version-check "${args[@]}" -e .
    fi

    echo "$stamp" > "$dir/.stamp-$name"
}

case "$profile" in
demo)
    venv_install .venv demo requirements/demo.txt
    ;;
test)
    venv_install .venv test requirements/dev.txt
    venv_install .venv-legacy test --no-deps requirements/flask-2.0.txt

    # System tools the tests drive for real: nginx (the load-balancer
    # test), curl (the operator's client), Graphviz's dot (draws the
    # diagrams of the docs), and Chromium with its WebDriver (the docs are
    # checked in a real browser; Selenium is given both paths, so it never
    # downloads a browser).
    missing=()
    [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v dot >/dev/null 2>&1 || missing+=(graphviz)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
    # The fleet-wide store's tests run a real Redis of their own.
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "bootstrap: the tests need ${missing[*]} (Debian packages);" \
                "install them or run this as root." >&2
            exit 1
        fi

        echo "bootstrap: installing ${missing[*]} (Debian packages)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    ;;
*)
    echo "usage: scripts/bootstrap.sh demo|test" >&2
    exit 2
    ;;
esac
