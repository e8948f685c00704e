#!/usr/bin/python3
"""Exports a native (vocabulary-output) TorchScript model from a mapped one.

The network is the ImageNet MobileNetV2 followed by a fixed aggregation: the softmax
over the 1000 ImageNet classes is summed per concept through the reviewed mapping, and
the model outputs the log-probability of each of the vocabulary's concepts, in the
class-index order of the pilot (class_index.json). It is a real native model: its
outputs are concepts, exactly the shape a fine-tuned 20-class model has, so the
extension's native path can be tested and compared against the mapped path.

usage: export_native_model.py MODEL_DIR CLASS_INDEX_JSON OUT_DIR [NAME]
  MODEL_DIR holds mobilenet_v2_imagenet_float.pt, imagenet_classes.txt and
  imagenet_concept_map.tsv (an installed model directory works).
"""
import hashlib
import json
import os
import sys

import torch

model_dir, class_index_path, out_dir = sys.argv[1:4]
name = sys.argv[4] if len(sys.argv) > 4 else "mobilenet_v2_native_test"
os.makedirs(out_dir, exist_ok=True)

class_index = json.load(open(class_index_path))
concepts = [class_index[str(i)] for i in range(len(class_index))]
mapping = torch.zeros(1000, len(concepts))
with open(os.path.join(model_dir, "imagenet_concept_map.tsv")) as f:
    next(f)
    for line in f:
        cols = line.rstrip("\n").split("\t")
        if len(cols) >= 3 and cols[2] in concepts:
            mapping[int(cols[0]), concepts.index(cols[2])] = 1.0


class Native(torch.nn.Module):
    def __init__(self, backbone, mapping):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mapping", mapping)

    def forward(self, x):
        p = torch.softmax(self.backbone(x), dim=1)
        return torch.log(p @ self.mapping + 1e-12)


backbone = torch.jit.load(os.path.join(model_dir, "mobilenet_v2_imagenet_float.pt")).eval()
native = torch.jit.script(Native(backbone, mapping).eval())
weights = os.path.join(out_dir, name + ".pt")
native.save(weights)
sha = hashlib.sha256(open(weights, "rb").read()).hexdigest()
meta = {
    "name": name,
    "version": "0.0.1-test",
    "description": "ImageNet MobileNetV2 aggregated to the 20 vocabulary concepts (native outputs, for tests)",
    "kind": "native",
    "file": name + ".pt",
    "sha256": sha,
    "input": {"resize": 256, "crop": 224, "channels": "RGB", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "output": "log_probabilities",
    "labels": class_index,
}
json.dump(meta, open(os.path.join(out_dir, name + ".model.json"), "w"), indent=2)
print("export_native_model: %s (%d concepts, sha256 %s)" % (weights, len(concepts), sha[:12]))
