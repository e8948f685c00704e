#!/usr/bin/python3
"""The pilot's Python classification pipeline, as the baseline for bench/run.sh.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14, PIL).

    python_baseline.py latency --variant a|b --model M.pt --labels L.txt [--n N] [--warmup W] NAME=IMG...
        Per image: the whole pipeline from bytes in memory to the top-1 label, timed warm.
        Prints one tab-separated line per image:
        variant name median_ms p90_ms decode_ms prep_ms forward_ms label
        (decode/prep/forward: medians of the stages, measured in the same iterations).
    python_baseline.py labels --model M.pt --labels L.txt LIST
        Variant a, top-1 and top-2 of every image path listed (one a line) in LIST.
        Prints: path label1 prob1 label2 prob2 resized_wxh half
        (half: 1 when the centre crop's offset is an exact .5 that torchvision rounds to even, i.e.
        where rounding half away from zero would crop one pixel further)

    python_baseline.py model-only --model M.pt [--batch 16] [--threads T] [--seconds S]
        The network's ceiling: forward passes over an already preprocessed random batch, with the
        optimised graph (variant b), T intra-op threads. Prints: images_per_second batches
    python_baseline.py pipeline --model M.pt [--batch 16] [--threads T] [--workers W] LIST
        The pilot-style batch pipeline over the image files listed in LIST: a DataLoader with W
        worker processes (PIL decode + the transforms below), batches of 16, the model as loaded
        (variant a) with T threads, softmax, top-1. Prints: images_per_second images seconds

Variants:
    a  the pilot's way: torch.jit.load of the TorchScript file as it is (no freeze)
    b  the same, with torch.jit.optimize_for_inference(torch.jit.freeze(model.eval())),
       the graph optimisation the extension applies to float models
Both use 1 intra-op thread, PIL Image.open(...).convert('RGB'), torchvision Resize(256),
CenterCrop(224), ToTensor(), Normalize(ImageNet mean/std), forward under no_grad, softmax.
"""
import argparse
import io
import statistics
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

PREPROCESS = T.Compose([
    T.Resize(256),
    T.CenterCrop(224),
    T.ToTensor(),
    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])


def load_model(path, variant):
    model = torch.jit.load(path, map_location="cpu")
    if variant == "b":
        model = torch.jit.optimize_for_inference(torch.jit.freeze(model.eval()))
    return model


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def classify(model, labels, data):
    """bytes -> (label, prob, times); the timed unit of the benchmark."""
    t0 = time.perf_counter()
    img = Image.open(io.BytesIO(data)).convert("RGB")
    t1 = time.perf_counter()
    x = PREPROCESS(img).unsqueeze(0)
    t2 = time.perf_counter()
    with torch.no_grad():
        logits = model(x)
        probs = torch.softmax(logits[0], dim=0)
        p, i = probs.max(dim=0)
    label = labels[int(i)]
    t3 = time.perf_counter()
    return label, float(p), (t1 - t0, t2 - t1, t3 - t2, t3 - t0)


def percentile(xs, q):
    """Linear interpolation, like PostgreSQL's percentile_cont."""
    xs = sorted(xs)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def cmd_latency(args):
    model = load_model(args.model, args.variant)
    labels = read_labels(args.labels)
    for spec in args.images:
        name, _, path = spec.partition("=")
        with open(path, "rb") as f:
            data = f.read()
        for _ in range(args.warmup):
            classify(model, labels, data)
        stages = []
        label = None
        for _ in range(args.n):
            label, _, t = classify(model, labels, data)
            stages.append(t)
        ms = lambda k: [s[k] * 1000.0 for s in stages]  # noqa: E731
        total = ms(3)
        print("\t".join([
            args.variant, name,
            f"{percentile(total, 0.5):.2f}", f"{percentile(total, 0.9):.2f}",
            f"{statistics.median(ms(0)):.2f}", f"{statistics.median(ms(1)):.2f}",
            f"{statistics.median(ms(2)):.2f}", label,
        ]), flush=True)


def cmd_labels(args):
    model = load_model(args.model, "a")
    labels = read_labels(args.labels)
    with open(args.list, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        img = Image.open(io.BytesIO(data)).convert("RGB")
        with torch.no_grad():
            probs = torch.softmax(model(PREPROCESS(img).unsqueeze(0))[0], dim=0)
        p, i = probs.topk(2)
        rw, rh = resized_size(img.width, img.height)
        half = any((d - 224) % 4 == 1 for d in (rw, rh))  # (d-224)/2 = 2k+0.5: round() gives 2k, not 2k+1
        print(f"{path}\t{labels[int(i[0])]}\t{float(p[0]):.4f}\t{labels[int(i[1])]}\t{float(p[1]):.4f}"
              f"\t{rw}x{rh}\t{int(half)}", flush=True)


def cmd_model_only(args):
    torch.set_num_threads(args.threads)
    model = load_model(args.model, "b")
    x = torch.randn(args.batch, 3, 224, 224)
    with torch.no_grad():
        for _ in range(3):
            model(x)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            torch.softmax(model(x), dim=1)
            n += 1
        dt = time.perf_counter() - t0
    print(f"{n * args.batch / dt:.1f}\t{n}", flush=True)


class FileImages(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            img = Image.open(io.BytesIO(f.read())).convert("RGB")
        return PREPROCESS(img)


def cmd_pipeline(args):
    torch.set_num_threads(args.threads)
    model = load_model(args.model, "a")
    with open(args.list, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    loader = torch.utils.data.DataLoader(FileImages(paths), batch_size=args.batch, num_workers=args.workers)
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224))  # load, as a warm process would have
        n = 0
        t0 = time.perf_counter()
        for x in loader:
            probs = torch.softmax(model(x), dim=1)
            probs.max(dim=1)
            n += x.shape[0]
        dt = time.perf_counter() - t0
    print(f"{n / dt:.1f}\t{n}\t{dt:.2f}", flush=True)


def resized_size(w, h, s=256):
    """torchvision Resize(256)'s output size."""
    return (s, int(s * h / w)) if w <= h else (int(s * w / h), s)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--variant", choices=["a", "b"], required=True)
    lat.add_argument("--model", required=True)
    lat.add_argument("--labels", required=True)
    lat.add_argument("--n", type=int, default=30)
    lat.add_argument("--warmup", type=int, default=5)
    lat.add_argument("images", nargs="+", metavar="NAME=IMG")
    lab = sub.add_parser("labels")
    lab.add_argument("--model", required=True)
    lab.add_argument("--labels", required=True)
    lab.add_argument("list")
    mo = sub.add_parser("model-only")
    mo.add_argument("--model", required=True)
    mo.add_argument("--batch", type=int, default=16)
    mo.add_argument("--threads", type=int, default=1)
    mo.add_argument("--seconds", type=float, default=10.0)
    pl = sub.add_parser("pipeline")
    pl.add_argument("--model", required=True)
    pl.add_argument("--batch", type=int, default=16)
    pl.add_argument("--threads", type=int, default=1)
    pl.add_argument("--workers", type=int, default=1)
    pl.add_argument("list")
    args = parser.parse_args()

    torch.set_num_threads(1)
    if args.cmd == "latency":
        cmd_latency(args)
    elif args.cmd == "labels":
        cmd_labels(args)
    elif args.cmd == "model-only":
        cmd_model_only(args)
    else:
        cmd_pipeline(args)


if __name__ == "__main__":
    sys.exit(main())
