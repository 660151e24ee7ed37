#!/usr/bin/env bash
# Make sure GeoDjango's system libraries are present: GDAL, GEOS, PROJ and
# SpatiaLite, plus the distribution's python3 with venv and gettext (to
# compile the translations). Installs them with
# apt-get when run as root on Debian/Ubuntu; otherwise says what to install.
# Usage: scripts/system-deps.sh [extra Debian packages...], e.g. nginx for
# `make serve`, wrk for the load test and the benchmark.
set -euo pipefail

DEBIAN_PACKAGES=(gdal-bin libsqlite3-mod-spatialite python3-venv gettext "$@")
BREW_PACKAGES="gdal spatialite-tools python gettext"

has_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
has_spatialite() { has_lib 'mod_spatialite\.so' || compgen -G '/usr/lib/*/mod_spatialite.so' >/dev/null; }
has_venv() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; }

missing_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

if [ "$(uname -s)" = "Darwin" ]; then
  for tool in gdalinfo geos-config; do
    command -v "$tool" >/dev/null || {
      echo "Missing GeoDjango libraries. Install them with Homebrew:" >&2
      echo "    brew install $BREW_PACKAGES" >&2
      echo "then run make again with PYTHON=\$(brew --prefix)/bin/python3." >&2
      exit 1
    }
  done
  # The serving tools (their Debian package names are their commands).
  for tool in "$@"; do
    case "$tool" in
      nginx | wrk) command -v "$tool" >/dev/null || {
        echo "Missing $tool. Install it with Homebrew: brew install $tool" >&2
        exit 1
      } ;;
    esac
  done
  exit 0
fi

if ! command -v dpkg-query >/dev/null; then
  if has_lib 'libgdal\.so' && has_lib 'libgeos_c\.so' && has_spatialite; then exit 0; fi
  echo "Missing GeoDjango libraries (GDAL, GEOS, PROJ, SpatiaLite)." >&2
  echo "Install your distribution's packages for them, e.g. on Debian/Ubuntu:" >&2
  echo "    apt-get install ${DEBIAN_PACKAGES[*]}" >&2
  exit 1
fi

missing=$(missing_debian_packages)
[ -z "$missing" ] && has_venv && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: $missing" >&2
  echo "Install them as root:" >&2
  echo "    sudo apt-get install -y $missing" >&2
  echo "(macOS: brew install $BREW_PACKAGES)" >&2
  exit 1
fi
echo "Installing system packages: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing python3-venv >/dev/null
