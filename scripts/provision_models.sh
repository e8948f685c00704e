#!/usr/bin/env bash
# Provisions models into the install's model directory:
#   metadata and concept mappings from models/ (this repository),
#   weights and label files from $EUROPEANA_MODEL_SOURCE (default ../shared/models),
# checking every weights file against the sha256 its metadata names.
# Usage: scripts/provision_models.sh [DEST]   (DEST default: $(pg_config --sharedir)/europeana/models)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SRC=${EUROPEANA_MODEL_SOURCE:-$ROOT/../shared/models}
DEST=${1:-$("$PG_CONFIG" --sharedir)/europeana/models}

if [ ! -d "$SRC" ]; then
  echo "provision_models: model source $SRC does not exist (set EUROPEANA_MODEL_SOURCE)" >&2
  exit 1
fi
mkdir -p "$DEST"
for meta in "$ROOT"/models/*.model.json; do
  # file, sha256 and label file named by the metadata
  read -r file sha labels < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); l=m.get("labels"); print(m["file"], m["sha256"], l["file"] if isinstance(l, dict) else "-")' "$meta")
  name=$(basename "$meta" .model.json)
  if [ ! -f "$SRC/$file" ]; then
    echo "provision_models: $name: weights $SRC/$file are missing" >&2
    exit 1
  fi
  if [ ! -f "$DEST/$file" ] || [ "$(sha256sum "$DEST/$file" | cut -d' ' -f1)" != "$sha" ]; then
    install -m 0644 "$SRC/$file" "$DEST/$file.tmp"
    actual=$(sha256sum "$DEST/$file.tmp" | cut -d' ' -f1)
    if [ "$actual" != "$sha" ]; then
      rm -f "$DEST/$file.tmp"
      echo "provision_models: $name: $SRC/$file has sha256 $actual, metadata says $sha" >&2
      exit 1
    fi
    mv "$DEST/$file.tmp" "$DEST/$file"
  fi
  if [ "$labels" != "-" ]; then
    if [ -f "$ROOT/models/$labels" ]; then
      install -m 0644 "$ROOT/models/$labels" "$DEST/$labels"
    elif [ -f "$SRC/$labels" ]; then
      install -m 0644 "$SRC/$labels" "$DEST/$labels"
    else
      echo "provision_models: $name: label file $labels is in neither models/ nor $SRC" >&2
      exit 1
    fi
  fi
  install -m 0644 "$meta" "$DEST/"
  echo "provision_models: $name -> $DEST ($file, sha256 ok)"
done
install -m 0644 "$ROOT"/models/*.tsv "$DEST/"
