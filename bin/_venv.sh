# Sourced by bin/demo and bin/serve-multi (not run on its own): the virtualenv and the free-port check.

# .venv with this checkout installed (editable). `pip install -e .` takes most of a start (about 10 s)
# even when nothing changed, so it runs only when pyproject.toml (the dependencies, the package name)
# changed since the last install, or when .venv is new or lost the package.
ensure_venv() {
  local python stamp wanted
  python=$(command -v python3.11 || command -v python3)
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  stamp=.venv/.realtime-editable-install  # inside .venv: a new virtualenv starts without it
  wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && [ -x .venv/bin/daphne ] \
     && .venv/bin/python -c "import importlib.metadata as m; m.version('django-realtime-hub')" 2>/dev/null; then
    return 0
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  echo "$wanted" > "$stamp"
}

# Fails with the fix when something already listens on 127.0.0.1:$1, so no "Open http://..." is printed
# for a server that cannot start. (SO_REUSEADDR as daphne's Twisted sets it: a port in TIME_WAIT is free.)
require_free_port() {
  if ! .venv/bin/python - "$1" <<'PY'
import socket, sys
with socket.socket() as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
  then
    echo "Port $1 is already in use on 127.0.0.1 (another server, or an earlier demo still running)." >&2
    echo "Stop it, or pick another port: PORT=$(( $1 + 1 )) bash $0" >&2
    exit 1
  fi
}
