"""Training and prediction.

    inv train [--task vision|tabular|collab|segment] [--data PATH] [--name NAME] [--epochs N] ... [--procs N]
    inv predict PATH [--model models/NAME] [--json]    (several: inv predict a.jpg -- b.jpg dir/)
"""

import json as jsonlib
import sys

from fastcourse.errors import DataError
from fastcourse.paths import model_dir, project_root
from fastcourse.train import config as tc, vision

from ._opts import model_folder, number, paths_after, task

HELP = {
    "task": "vision (default) | tabular | collab | segment: lesson 1's applications",
    "data": "folder with one sub-folder per class, a dataset name from inv data.*, or for the other tasks "
            "adult | movielens | camvid (the course's datasets, online); default: an embedded dataset",
    "name": f"model name: artifacts go to models/NAME (default: the --data's name, else {vision.NAME} or the task's)",
    "arch": f"torchvision or timm architecture (default {vision.ARCH})",
    "size": f"image side in pixels (default {vision.SIZE})",
    "resize": "squish | crop | pad (default squish)",
    "epochs": f"training epochs (default {vision.EPOCHS} for vision; each task has its own)",
    "lr": "peak learning rate (default: the recipe's)",
    "bs": f"batch size (default {vision.BS} for vision; each task has its own)",
    "pretrained": "require pretrained weights (default: use them when they can be downloaded)",
    "no_pretrained": "train from scratch without trying to download weights",
    "seed": "random seed (default 42)",
    "procs": "processes for distributed training through accelerate (GPUs, or CPU processes with gloo)",
    "machines": "number of machines for multi-node training (with --machine-rank and --main-ip)",
    "machine_rank": "this machine's rank in a multi-node run (0 = main)",
    "main_ip": "address of the main machine in a multi-node run",
}


@task(default=True, help=HELP)
def train(c, task="vision", data=None, name=None, arch=None, size=None, resize="squish", epochs=None, lr=None,
          bs=None, pretrained=False, no_pretrained=False, seed="42", procs="1", machines="1", machine_rank="0",
          main_ip=None):
    """Train a model (default: an image classifier on the embedded digits, offline), export it, write a report."""
    from fastcourse.schema import read_json, weak_note
    from fastcourse.train import distributed, run
    from fastcourse.train.report import next_lines

    tc.task_module(task)  # the one-line error naming the tasks
    opt = lambda key, value, lo: None if value is None else number(int, key, value, lo)  # noqa: E731
    ints = {k: number(int, k, v, lo) for k, v, lo in (("seed", seed, 0), ("procs", procs, 1),
                                                      ("machines", machines, 1), ("machine_rank", machine_rank, 0))}
    cfg = tc.TrainConfig(task=task, data=data, name=name, arch=arch, size=opt("size", size, 1), resize=resize,
                         epochs=opt("epochs", epochs, 1), lr=number(float, "lr", lr) if lr else None,
                         bs=opt("bs", bs, 1), seed=ints["seed"],
                         pretrained=False if no_pretrained else (True if pretrained else None))
    root = project_root()
    if ints["procs"] > 1 or ints["machines"] > 1:
        metrics = distributed.launch(cfg, root, ints["procs"], ints["machines"], ints["machine_rank"], main_ip)
    else:
        metrics = run.train(cfg, root)
    out = model_dir(root, cfg.name)
    print(f"\n{tc.task_module(task).headline(metrics)} on {metrics['valid_items']} held-out items, "
          f"{metrics['wall_s']} s; model and report in {out}/")
    weak = weak_note(metrics)
    if weak:
        print(f"warning: {weak}")
    print(f"report: {out / 'report.html'}  (open it in a browser)\nnext:")
    print("\n".join(f"  {line}" for line in next_lines(cfg.name, read_json(out / "config.json"))))


PREDICT_HELP = {
    "path": "what to predict, any number, options anywhere — an image classifier or segmentation model: image "
            "files or folders (inv predict a.jpg b.png photos/); tabular: CSV files of rows (inv predict "
            "new.csv --model models/tabular); collab: USER,ITEM pairs or CSVs of them (inv predict 74,8 "
            "--model models/collab)",
    "model": "model folder made by inv train, or a fastai model.pkl (default models/digits)",
    "code": "for a model.pkl: a .py file defining the functions the notebook defined (e.g. is_cat)",
    "json": "print JSON lines instead of a table (image classifiers)",
    "out": "where tabular/collab predictions (CSV) and segmentation masks (PNG) go (default: stdout / beside each image)",
    "bs": "batch size for folders of images (default 64)"}
PREDICT_OPTIONS = {"--" + key.replace("_", "-") for key in PREDICT_HELP if key != "path"}  # refused after `--`


@task(optional=["path"], variadic=True, help=PREDICT_HELP)
def predict(c, path=None, model="models/digits", code=None, json=False, bs="64", out=None):
    """Predict with a trained model: images (classifier, masks), CSV rows (tabular) or USER,ITEM pairs (collab)."""
    from fastcourse import predict as pr
    from fastcourse.schema import describe

    bs = number(int, "bs", bs, 1)
    paths = paths_after(c, path, PREDICT_OPTIONS)
    if not paths:
        raise DataError("predict needs something to predict — e.g. inv predict photo.jpg (see inv predict -h)")
    folder = model_folder(model, code)
    pm = pr.load(folder)
    print(describe(folder), file=sys.stderr, flush=True)
    target = project_root() / out if out else None
    if pm.kind != "classifier":
        from fastcourse.serve.outputs import predict_other

        print("\n".join(predict_other(pm, paths, target)))
        return
    failed = 0
    for path, result, error in pr.predict_paths(pm, paths, bs):
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
