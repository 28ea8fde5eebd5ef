"""Local stand-ins for everything the course reaches online, made by `inv nb.course --check` in a scratch
folder. Each copies the shape of the real thing (named beside it) at a size a CPU gets through in seconds.

- Kaggle: kagglesdk's API as the kaggle 2.x client calls it (`KAGGLE_API_ENVIRONMENT=TEST` is
  http://localhost:7777): POST .../CompetitionApiService/DownloadDataFiles answers a redirect to the zip;
  titanic (train.csv, test.csv, gender_submission.csv with Kaggle's columns) and paddy-disease-classification
  (train_images/<its 10 labels>/NNNNNN.jpg, test_images/, train.csv, sample_submission.csv) in their layouts;
- URLs.PETS: oxford-iiit-pet/images with cats named Capitalized_N.jpg and dogs lower_N.jpg, where untar_data
  looks first (FASTAI_HOME/data), so it is not downloaded;
- lesson 3's CSVs: the columns of pytorch-image-models' results/ files at the pinned commit;
- weights: torchvision's resnet18 in TORCH_HOME, and each timm architecture the course loads, built tiny
  (checkmode.SHRINK), in a Hugging Face cache (HF_HOME, offline) under its real repository id.
"""

from __future__ import annotations

import io
import json
import threading
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..fileio import atomic_write_bytes, atomic_write_text

KAGGLE_PORT = 7777  # kagglesdk's TEST environment
PADDY_LABELS = ["bacterial_leaf_blight", "bacterial_leaf_streak", "bacterial_panicle_blight", "blast", "brown_spot",
                "dead_heart", "downy_mildew", "hispa", "normal", "tungro"]
TIMM_ARCHS = ["resnet26d", "convnext_small_in22k", "convnext_large_in22k", "vit_large_patch16_224",
              "swinv2_large_window12_192_22k", "swin_large_patch4_window7_224"]  # what lessons 6-7 load


def _jpeg(seed: int, size=(48, 64)) -> bytes:
    """A small distinct JPEG (paddy's photos are 480x640: the same 3:4 shape)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 80 + rng.integers(0, 170, 3)).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def titanic() -> bytes:
    """Kaggle's titanic.zip: 120 training and 40 test passengers with every column of the real files."""
    import numpy as np

    rng = np.random.default_rng(0)
    head = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    rows = []
    for i in range(160):
        sex = "female" if rng.random() < 0.35 else "male"
        title = {"female": rng.choice(["Mrs", "Miss"]), "male": rng.choice(["Mr", "Master"])}[sex]
        age = "" if rng.random() < 0.2 else f"{rng.integers(1, 70)}"
        cabin = "" if rng.random() < 0.7 else f"{rng.choice(list('ABCDEFG'))}{rng.integers(1, 99)}"
        survived = int(rng.random() < (0.75 if sex == "female" else 0.2))
        rows.append([i + 1, survived, rng.integers(1, 4), f'"Name{i}, {title}. Given"', sex, age, rng.integers(0, 3),
                     rng.integers(0, 3), f"T{rng.integers(1, 60)}", "" if i == 150 else f"{rng.random() * 80:.4f}",
                     cabin, "" if i in (3, 7) else rng.choice(["S", "C", "Q"])])
    line = lambda r: ",".join(map(str, r)) + "\n"  # noqa: E731
    train = head + "".join(line(r) for r in rows[:120])
    test = head.replace("Survived,", "") + "".join(line(r[:1] + r[2:]) for r in rows[120:])
    gender = "PassengerId,Survived\n" + "".join(f"{r[0]},{int(r[4] == 'female')}\n" for r in rows[120:])
    return _zip({"train.csv": train.encode(), "test.csv": test.encode(), "gender_submission.csv": gender.encode()})


def paddy(per_label: int = 10, tests: int = 6) -> bytes:
    """Kaggle's paddy-disease-classification.zip: per_label images for each of its ten labels, a test set."""
    files, rows, k = {}, ["image_id,label,variety,age"], 100001
    for label in PADDY_LABELS:
        for _ in range(per_label):
            files[f"train_images/{label}/{k}.jpg"] = _jpeg(k)
            rows.append(f"{k}.jpg,{label},ADT45,{45 + k % 30}")
            k += 1
    test = [f"{200001 + i}.jpg" for i in range(tests)]
    files.update({f"test_images/{name}": _jpeg(200001 + i) for i, name in enumerate(test)})
    files["train.csv"] = ("\n".join(rows) + "\n").encode()
    files["sample_submission.csv"] = ("image_id,label\n" + "".join(f"{n},\n" for n in test)).encode()
    return _zip(files)


def timm_results() -> dict[str, bytes]:
    """results-imagenet.csv and the two benchmark CSVs, with the columns lesson 3 reads and merges."""
    import numpy as np

    rng = np.random.default_rng(0)
    models = [f"{f}{i}" for f in ("resnet", "resnet50d_", "regnetx_00", "levit_", "vgg", "convnext_", "vit_base_",
                                  "beit_base_", "efficientnetv2_") for i in range(1, 5)]
    top1 = {m: 70 + rng.random() * 15 for m in models}
    res = "model,top1,top1_err,top5,top5_err,param_count,img_size,cropt_pct,interpolation\n" + "".join(
        f"{m},{t:.3f},{100 - t:.3f},{t + 10:.3f},{90 - t:.3f},{rng.integers(2, 90)},224,0.875,bicubic\n"
        for m, t in top1.items())
    out = {"results-imagenet.csv": res.encode()}
    for part in ("infer", "train"):
        head = f"model,{part}_samples_per_sec,{part}_step_time,{part}_batch_size,{part}_img_size,param_count\n"
        out[f"benchmark-{part}-amp-nhwc-pt111-cu113-rtx3090.csv"] = (head + "".join(
            f"{m},{rng.random() * 3000 + 100:.2f},{rng.random() * 50:.3f},256,224,{rng.integers(2, 90)}\n"
            for m in models)).encode()
    return out


def pets(fastai_home: Path, n: int = 12) -> Path:
    """FASTAI_HOME/data/oxford-iiit-pet/images: n cats (Abyssinian_N.jpg) and n dogs (beagle_N.jpg)."""
    images = fastai_home / "data" / "oxford-iiit-pet" / "images"
    for i in range(n):
        atomic_write_bytes(images / f"Abyssinian_{i}.jpg", _jpeg(300 + i))
        atomic_write_bytes(images / f"beagle_{i}.jpg", _jpeg(400 + i))
    atomic_write_text(fastai_home / "config.ini", f"[DEFAULT]\narchive = {fastai_home}/archive\n"
                      f"data = {fastai_home}/data\nmodel = {fastai_home}/models\nstorage = {fastai_home}/data\n")
    return images


def weights(torch_home: Path, hf_home: Path, archs=TIMM_ARCHS, full: bool = False) -> list[str]:
    """Seeded random weights: torchvision resnet18 in TORCH_HOME; each of `archs`, tiny (or at full size), in
    HF_HOME's cache under its real hub id. Returns the hub ids written."""
    import timm
    import torch
    import torchvision
    from safetensors.torch import save_file

    from .checkmode import shrink

    torch.manual_seed(0)
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    path = torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    written = []
    for arch in archs:
        with warnings.catch_warnings():  # "Mapping deprecated model name ...": the course's 2022 names
            warnings.simplefilter("ignore")
            model = timm.create_model(arch, pretrained=False, **({} if full else shrink(arch)))
        repo = model.pretrained_cfg["hf_hub_id"]
        snap = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
        (snap / "snapshots" / "standin").mkdir(parents=True, exist_ok=True)
        (snap / "refs").mkdir(exist_ok=True)
        (snap / "refs" / "main").write_text("standin")
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(snap / "snapshots" / "standin" / "model.safetensors"))
        written.append(repo)
    return written


class Servers:
    """The local servers of the check, while the `with` block runs: the Kaggle API on 127.0.0.1:7777, a file
    server (images for the search stand-in, lesson 3's CSVs) and a listener standing in for 1.1.1.1:53."""

    def __init__(self):
        import socket

        comps = {"titanic": titanic(), "paddy-disease-classification": paddy()}
        csvs = timm_results()

        class Kaggle(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # DownloadDataFiles {"competitionName": ...} -> 302 to the zip, as Kaggle does
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = json.loads(body or b"{}").get("competitionName", "")
                self.send_response(302 if name in comps else 404)
                self.send_header("Location", f"http://localhost:{KAGGLE_PORT}/files/{name}.zip")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                data = comps.get(self.path.rsplit("/", 1)[-1].removesuffix(".zip"))
                _send(self, data, "application/zip")

        class Files(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/timm/"):
                    return _send(self, csvs.get(self.path.rsplit("/", 1)[-1]), "text/csv")
                seed = sum(map(ord, self.path))
                _send(self, _jpeg(seed, (320, 240)), "image/jpeg")

        try:
            self.kaggle = ThreadingHTTPServer(("127.0.0.1", KAGGLE_PORT), Kaggle)
        except OSError as e:
            from ..errors import NotebookError

            raise NotebookError(f"port {KAGGLE_PORT} on 127.0.0.1 (the Kaggle client's TEST endpoint) is in use "
                                f"({e.strerror}) — is another course check running? stop it, then run again") from None
        self.files = ThreadingHTTPServer(("127.0.0.1", 0), Files)
        self.internet = socket.create_server(("127.0.0.1", 0))
        self.internet.listen(16)

    def env(self) -> dict:
        """Where the kernels find the stand-ins."""
        base = f"http://127.0.0.1:{self.files.server_address[1]}"
        return {"KAGGLE_API_ENVIRONMENT": "TEST", "FASTCOURSE_TIMM_RESULTS_URL": f"{base}/timm",
                "FASTCOURSE_CHECK_IMAGES": f"{base}/images",
                "FASTCOURSE_CHECK_INTERNET_PORT": str(self.internet.getsockname()[1])}

    def __enter__(self):
        for server in (self.kaggle, self.files):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        for server in (self.kaggle, self.files):
            server.shutdown()
            server.server_close()
        self.internet.close()


def _send(handler, data: bytes | None, ctype: str) -> None:
    """200 with `data`, or 404 when there is none."""
    handler.send_response(200 if data is not None else 404)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data or b"")))
    handler.end_headers()
    handler.wfile.write(data or b"")
