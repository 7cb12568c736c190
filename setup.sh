#!/bin/sh
# setup.sh — make this machine ready to build, test and run cafetui, then
# build it.  Installs the Debian packages it needs (as root, or via sudo),
# generates ./configure, configures and builds.  Safe to run again: it
# installs only what is missing and rebuilds only what changed.
#   ./setup.sh              install, configure, build
#   ./setup.sh --deps-only  only install the packages
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential autoconf automake libtool pkg-config
  libopenblas-dev libyaml-dev libncurses-dev libhdf5-dev hdf5-tools liblmdb-dev lmdb-utils
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler zlib1g-dev libcriterion-dev libdnnl-dev
  dataset-fashion-mnist tmux procps libopenmpi-dev openmpi-bin"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
[ "${1:-}" = "--deps-only" ] && exit 0

[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh
[ -f Makefile ] && [ config.status -nt configure ] || ./configure ${CAFETUI_CONFIGURE_FLAGS:-}
make -j"$(nproc)"
