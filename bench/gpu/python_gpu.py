#!/usr/bin/env python3
"""Python measurements for the GPU benchmark, on the same GPU and images as the extension.

    python_gpu.py model-only MODEL.pt BATCH fp32|fp16cl [SECONDS]
        (a) the network's ceiling: a preprocessed random batch already on the GPU, forward passes
        under inference_mode; fp16cl = half weights and inputs, channels_last. Prints images/s.
    python_gpu.py pipeline MODEL.pt LIST BATCH WORKERS [draft]
        (b) the pilot-style pipeline: DataLoader with WORKERS processes doing PIL decode +
        torchvision Resize(256)/CenterCrop(224)/ToTensor/Normalize, the model (as loaded, fp32) on
        the GPU, softmax, top-1. "draft" lets PIL decode JPEGs at reduced size. Prints images/s.
    python_gpu.py oom MODEL.pt BATCH FREE_GB
        the same frozen fp32 graph on a device left with FREE_GB GB (the rest held by this
        process): does LibTorch raise OutOfMemoryError or crash? (bench/gpu/faults.sh)
    python_gpu.py badinput MODEL.pt
        the same frozen graph fed 4 channels (an op fails inside the TorchScript interpreter,
        which then formats the frozen graph's call stack): raises or crashes? (faults.sh)
    python_gpu.py decode LIST BATCH
        (d) the decode ceiling: torchvision.io.decode_jpeg on the GPU (nvJPEG), batched, then a
        per-image resize to 256 and centre crop 224, no model. Prints images/s.
"""
import sys
import time

import torch


def oom(path, batch, free_gb):
    m = torch.jit.load(path, map_location="cuda").eval()
    m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    free, _ = torch.cuda.mem_get_info(0)
    hog = torch.empty(max(free - int(free_gb * 2**30), 0), dtype=torch.uint8, device="cuda")
    try:
        with torch.inference_mode():
            m(x)
            torch.cuda.synchronize()
        print("python: forward of %d rows with %.1f GB free: no error" % (batch, free_gb))
    except Exception as e:  # noqa: BLE001 -- the TorchScript interpreter may wrap the OOM
        print("python: forward of %d rows with %.1f GB free: %s raised (%s)"
              % (batch, free_gb, type(e).__name__, str(e).splitlines()[0][:160]))
    del hog


def badinput(path):
    m = torch.jit.load(path, map_location="cuda").eval()
    m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    for _ in range(3):
        try:
            with torch.inference_mode():
                m(torch.zeros(2, 4, 224, 224, device="cuda"))
            print("python: 4 channels: no error")
        except Exception as e:  # noqa: BLE001
            print("python: 4 channels: %s raised (%s)" % (type(e).__name__, str(e).splitlines()[-1][:160]))


def model_only(path, batch, mode, seconds=5.0):
    m = torch.jit.load(path, map_location="cuda").eval()
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    if mode == "fp16cl":
        m = m.half().to(memory_format=torch.channels_last)
        x = x.half().contiguous(memory_format=torch.channels_last)
    m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    with torch.inference_mode():
        for _ in range(10):
            m(x)
        torch.cuda.synchronize()
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            torch.softmax(m(x).float(), 1)
            n += 1
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    print(f"{n * batch / dt:.1f}")


class Files(torch.utils.data.Dataset):
    def __init__(self, paths, draft):
        import torchvision.transforms as T
        self.paths, self.draft = paths, draft
        self.t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        img = Image.open(self.paths[i])
        if self.draft:
            img.draft("RGB", (256, 256))
        return self.t(img.convert("RGB"))


def pipeline(path, listfile, batch, workers, draft=False):
    paths = [l.strip() for l in open(listfile) if l.strip()]
    m = torch.jit.load(path, map_location="cuda").eval()
    loader = torch.utils.data.DataLoader(Files(paths, draft), batch_size=batch, num_workers=workers, pin_memory=True)
    with torch.no_grad():
        m(torch.randn(2, 3, 224, 224, device="cuda"))
        torch.cuda.synchronize()
        n = 0
        t0 = time.perf_counter()
        for x in loader:
            p = torch.softmax(m(x.cuda(non_blocking=True)), 1).max(1)
            p[1].cpu()
            n += x.shape[0]
        dt = time.perf_counter() - t0
    print(f"{n / dt:.1f}")


def decode(listfile, batch):
    import torchvision
    from torchvision.io import decode_jpeg, read_file
    import torch.nn.functional as F
    paths = [l.strip() for l in open(listfile) if l.strip()]
    datas = [read_file(p) for p in paths]

    def run(chunk):
        imgs = decode_jpeg(chunk, device="cuda")
        out = []
        for im in imgs:
            h, w = im.shape[1:]
            s = 256 / min(h, w)
            r = F.interpolate(im.unsqueeze(0).float(), size=(max(224, round(h * s)), max(224, round(w * s))),
                              mode="bilinear", antialias=True, align_corners=False)
            H, W = r.shape[2:]
            out.append(r[:, :, (H - 224) // 2:(H - 224) // 2 + 224, (W - 224) // 2:(W - 224) // 2 + 224])
        return torch.cat(out)

    run(datas[:batch])
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(0, len(datas), batch):
        run(datas[i:i + batch])
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(f"{len(datas) / dt:.1f}  # torchvision {torchvision.__version__}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "model-only":
        model_only(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 5.0)
    elif cmd == "oom":
        oom(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "badinput":
        badinput(sys.argv[2])
    elif cmd == "pipeline":
        pipeline(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), len(sys.argv) > 6)
    else:
        decode(sys.argv[2], int(sys.argv[3]))
