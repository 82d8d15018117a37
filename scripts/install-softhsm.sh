#!/usr/bin/env bash
# install-softhsm.sh — make SoftHSM2 available for Triad's PKCS#11 tests.
#
# Idempotent: installs Debian's softhsm2 (pinned: SOFTHSM_VERSION) with
# apt-get only when softhsm2-util is missing (running `apt-get update` first
# only if the package is not known yet), then prints the PKCS#11 module
# path as the last line on stdout.
# Tests export it as TRIAD_SOFTHSM_MODULE, or find it in the standard paths.
set -euo pipefail

log() { echo "install-softhsm: $*" >&2; }

# The Debian bookworm build the tests are pinned to.
SOFTHSM_VERSION="${TRIAD_SOFTHSM_VERSION:-2.6.1-2.1}"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null && SUDO="sudo"
fi

if ! command -v softhsm2-util >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show softhsm2 >/dev/null 2>&1; then
		log "package lists do not know softhsm2; running apt-get update"
		$SUDO apt-get update -qq >&2
	fi
	log "installing softhsm2=$SOFTHSM_VERSION"
	if ! $SUDO apt-get install -y -qq --no-install-recommends "softhsm2=$SOFTHSM_VERSION" "libsofthsm2=$SOFTHSM_VERSION" >&2; then
		# A Debian point release may replace the pinned build; the PKCS#11
		# conformance suite checks whatever is installed.
		log "WARNING: softhsm2 $SOFTHSM_VERSION is not available here; installing the distribution's candidate"
		$SUDO apt-get install -y -qq --no-install-recommends softhsm2 >&2
	fi
fi
installed="$(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo unknown)"
if [[ "$installed" != "$SOFTHSM_VERSION" ]]; then
	log "WARNING: softhsm2 $installed is installed; the tests are pinned to $SOFTHSM_VERSION"
fi

find_module() {
	local p
	# Ask dpkg where the package put it, then fall back to the usual places.
	for p in $(dpkg -L libsofthsm2 softhsm2 2>/dev/null | grep '/libsofthsm2\.so$' || true) \
		/usr/lib/softhsm/libsofthsm2.so \
		/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so; do
		# dpkg may list a symlink; accept any readable file.
		if [[ -r "$p" ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

MODULE="$(find_module)" || { log "softhsm2 installed but libsofthsm2.so not found"; exit 1; }
log "softhsm2-util: $(command -v softhsm2-util) ($(softhsm2-util --version 2>/dev/null || echo unknown))"
echo "$MODULE"
