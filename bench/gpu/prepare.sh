#!/usr/bin/env bash
# On the CPU machine: copies what bench/gpu/run.sh needs into ignored folders of the checkout
# (the device kit, the MobileNetV2 files, 60 source photos), to be carried to the GPU machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${EUROPEANA_SHARED:-$ROOT/../shared}
cd "$ROOT"
for need in "$SHARED/device-kit/install.sh" "$SHARED/models/mobilenet_v2_imagenet_float.pt" "$SHARED/data/ahe-trainval.tar"; do
  [ -e "$need" ] || { echo "prepare: missing $need" >&2; exit 1; }
done
rm -rf .device-kit .device-data
cp -r "$SHARED/device-kit" .device-kit
mkdir -p .device-data/models .device-data/photos
cp "$SHARED"/models/*.pt "$SHARED/models/imagenet_classes.txt" .device-data/models/
tar xf "$SHARED/data/ahe-trainval.tar" -C .device-data --wildcards '*.jpg'
# (head ends the pipe early: the SIGPIPE upstream is expected)
find .device-data/ahe -name '*.jpg' -print0 | sort -z | awk -v RS='\0' -v ORS='\0' 'NR % 40 == 1' | head -z -n 60 | xargs -0 -I{} mv {} .device-data/photos/ || true
rm -rf .device-data/ahe
mkdir -p .git/info
for p in /.device-kit/ /.device-data/ /build-gpu/; do
  grep -qxF "$p" .git/info/exclude || echo "$p" >>.git/info/exclude
done
du -sh .device-kit .device-data
