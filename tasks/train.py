"""Training and prediction.

    inv train [--data PATH] [--name NAME] [--epochs N] ... [--procs N]
    inv predict PATH [--model models/NAME] [--json]    (several: inv predict a.jpg -- b.jpg dir/)
"""

import json as jsonlib
import sys

from fastcourse import train as tr
from fastcourse.errors import DataError
from fastcourse.util import model_dir, project_root

from ._opts import number, paths_after, task

HELP = {
    "data": "folder with one sub-folder per class, or a dataset name from inv data.* (default: embedded digits)",
    "name": f"model name: artifacts go to models/NAME (default {tr.NAME})",
    "arch": f"torchvision or timm architecture (default {tr.ARCH})",
    "size": f"image side in pixels (default {tr.SIZE})",
    "resize": f"squish | crop | pad (default {tr.RESIZE})",
    "epochs": f"training epochs (default {tr.EPOCHS})",
    "lr": "peak learning rate (default: the recipe's)",
    "bs": f"batch size (default {tr.BS})",
    "pretrained": "require pretrained weights (default: use them when they can be downloaded)",
    "no_pretrained": "train from scratch without trying to download weights",
    "seed": f"random seed (default {tr.SEED})",
    "procs": "processes for distributed training through accelerate (GPUs, or CPU processes with gloo)",
    "machines": "number of machines for multi-node training (with --machine-rank and --main-ip)",
    "machine_rank": "this machine's rank in a multi-node run (0 = main)",
    "main_ip": "address of the main machine in a multi-node run",
}


@task(default=True, help=HELP)
def train(c, data=None, name=tr.NAME, arch=tr.ARCH, size=str(tr.SIZE), resize=tr.RESIZE, epochs=str(tr.EPOCHS),
          lr=None, bs=str(tr.BS), pretrained=False, no_pretrained=False, seed=str(tr.SEED), procs="1",
          machines="1", machine_rank="0", main_ip=None):
    """Train an image classifier (default: the embedded digits, offline), export it and write a report."""
    ints = {k: number(int, k, v, lo) for k, v, lo in (("size", size, 1), ("epochs", epochs, 1), ("bs", bs, 1),
                                                      ("seed", seed, 0), ("procs", procs, 1),
                                                      ("machines", machines, 1), ("machine_rank", machine_rank, 0))}
    cfg = tr.TrainConfig(data=data, name=name, arch=arch, size=ints["size"], resize=resize, epochs=ints["epochs"],
                         lr=number(float, "lr", lr) if lr else None, bs=ints["bs"], seed=ints["seed"],
                         pretrained=False if no_pretrained else (True if pretrained else None))
    root = project_root()
    if ints["procs"] > 1 or ints["machines"] > 1:
        metrics = tr.launch(cfg, root, ints["procs"], ints["machines"], ints["machine_rank"], main_ip)
    else:
        metrics = tr.train(cfg, root)
    out = model_dir(root, cfg.name)
    print(f"\nerror rate {metrics['error_rate']:.2%} on {metrics['valid_items']} held-out images, "
          f"{metrics['wall_s']} s; model and report in {out}/")
    print(f"report: {out / 'report.html'}")


@task(optional=["path"], help={
    "path": "an image file or a directory of images (more after `--`: inv predict a.jpg -- b.jpg dir/)",
    "model": "model folder made by inv train (default models/digits)",
    "json": "print JSON lines instead of a table",
    "bs": "batch size for directories (default 64)"})
def predict(c, path=None, model="models/digits", json=False, bs="64"):
    """Predict the label of images or directories of images with a trained (portable) model."""
    from fastcourse.predict import PortableModel, predict_paths

    bs = number(int, "bs", bs, 1)
    paths = paths_after(c, path)
    if not paths:
        raise DataError("predict needs at least one image or directory — e.g. inv predict photo.jpg")
    pm = PortableModel(project_root() / model)
    failed = 0
    for path, result, error in predict_paths(pm, paths, bs):
        failed += bool(error)
        if json:
            print(jsonlib.dumps({"path": str(path), **(result or {}), **({"error": error} if error else {})}))
        elif error:
            print(f"{path}: ERROR {error}", file=sys.stderr)
        else:
            probs = ", ".join(f"{k} {v:.3f}" for k, v in result["probs"].items())
            print(f"{path}: {result['label']}  ({probs})")
    if failed:
        raise DataError(f"{failed} file(s) could not be predicted (named above) — fix or remove them; the others were predicted")
