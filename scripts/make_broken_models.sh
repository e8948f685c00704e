#!/usr/bin/env bash
# Builds a model directory of broken models for the bad-input tests:
#   missing_weights    metadata names a weights file that does not exist
#   corrupt_weights    weights are not a TorchScript archive (checksum matches)
#   truncated_weights  the real archive cut in half (checksum matches)
#   wrong_checksum     real weights, wrong sha256 in the metadata
#   bad_metadata       metadata is not JSON
#   wrong_outputs      real weights, metadata lists 3 labels for a 1000-output network
#   missing_labels     metadata names a label file that does not exist
#   missing_map        a mapped model whose concept-map file does not exist
#   unknown_concept    a native model with an output that is not a concept name ("Painting")
# usage: make_broken_models.sh SOURCE_MODEL_DIR DEST
set -euo pipefail
SRC=$1
DEST=$2
rm -rf "$DEST"
mkdir -p "$DEST"
meta() { # name file sha labels-json
  cat >"$DEST/$1.model.json" <<JSON
{"name": "$1", "version": "0", "kind": "native", "file": "$2", "sha256": "$3", "labels": $4}
JSON
}
LABELS='["building", "map", "toy"]'
meta missing_weights missing.pt "$(printf '%064d' 0)" "$LABELS"
echo "this is not a torchscript archive" >"$DEST/corrupt.pt"
meta corrupt_weights corrupt.pt "$(sha256sum "$DEST/corrupt.pt" | cut -d' ' -f1)" "$LABELS"
head -c 1000000 "$SRC/mobilenet_v2_imagenet_float.pt" >"$DEST/truncated.pt"
meta truncated_weights truncated.pt "$(sha256sum "$DEST/truncated.pt" | cut -d' ' -f1)" "$LABELS"
cp "$SRC/mobilenet_v2_imagenet_float.pt" "$DEST/real.pt"
meta wrong_checksum real.pt "$(printf 'ab%062d' 0)" "$LABELS"
meta wrong_outputs real.pt "$(sha256sum "$DEST/real.pt" | cut -d' ' -f1)" "$LABELS"
echo '{"name": "bad_metadata", "version": ' >"$DEST/bad_metadata.model.json"
REAL_SHA=$(sha256sum "$DEST/real.pt" | cut -d' ' -f1)
cat >"$DEST/missing_labels.model.json" <<JSON
{"name": "missing_labels", "version": "0", "kind": "native", "file": "real.pt", "sha256": "$REAL_SHA",
 "labels": {"file": "missing_labels.txt"}}
JSON
cat >"$DEST/missing_map.model.json" <<JSON
{"name": "missing_map", "version": "0", "kind": "mapped", "file": "real.pt", "sha256": "$REAL_SHA",
 "labels": ["tench", "goldfish", "shark"], "concept_map": {"file": "missing_map.tsv"}}
JSON
meta unknown_concept real.pt "$REAL_SHA" '["building", "Painting", "toy"]'
chmod -R a+rX "$DEST"
echo "make_broken_models: $(ls "$DEST"/*.model.json | wc -l) broken models in $DEST"
