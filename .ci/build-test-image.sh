#!/usr/bin/env bash
# Builds local/busybox:1 (for .ci/run) from Debian's busybox-static: no registry is reachable here, so test
# images are imported from a folder. Idempotent; DOCKER_HOST picks the engine.
set -euo pipefail
image=${1:-local/busybox:1}
if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
for applet in sh sleep httpd nc wget ping ip hostname cat ls echo env true false kill ps date seq yes head; do
  ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo '<h1>swarmlet test</h1>' > "$root/www/index.html"
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' --change 'WORKDIR /' - "$image" >/dev/null
echo "built $image"
