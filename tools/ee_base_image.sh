#!/usr/bin/env bash
# A local base image for the execution environment, for machines that reach no container
# registry (the lab's): a Debian 12 root filesystem from debootstrap (python3 3.11, pip, venv,
# the SSH client) imported with `podman import`. Where a registry is reachable, use a public
# image instead (docs/awx.md): quay.io/centos/centos:stream10 as execution-environment.yml
# says, or docker.io/library/python:3.11-slim-bookworm with the options of
# tools/ee_lab_definition.py.
#
#   tools/ee_base_image.sh [IMAGE]      # default localhost/meshops-ee-base:bookworm
#
# The image trusts the host's CA bundle (/etc/ssl/certs/ca-certificates.crt) and pip uses it
# (PIP_CERT), so that pip inside the build reaches PyPI through the same proxy as the host.
# Does nothing when the image exists. Needs root, debootstrap and podman.
set -euo pipefail

IMAGE=${1:-localhost/meshops-ee-base:bookworm}
RUNTIME=${EE_RUNTIME:-podman}
PACKAGES=python3,python3-pip,python3-venv,openssh-client,ca-certificates

if "$RUNTIME" image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "$IMAGE exists"
    exit 0
fi

mirror=""
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [ -f "$f" ] || continue
    mirror=$(sed -n -e 's/^URIs: *\([^ ]*\).*/\1/p' -e 's/^deb \([^ ]*\) .*/\1/p' "$f" | grep -v security | head -n1)
    [ -n "$mirror" ] && break
done
[ -n "$mirror" ] || { echo "cannot find the Debian mirror apt uses" >&2; exit 1; }

root=$(mktemp -d /var/tmp/meshops-ee-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm ($PACKAGES) from $mirror"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | "$RUNTIME" import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
"$RUNTIME" image inspect --format '{{.Size}}' "$IMAGE" | awk -v i="$IMAGE" '{printf "%s: %.0f MB\n", i, $1 / 1e6}'
