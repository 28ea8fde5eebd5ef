"""Training in several processes through accelerate: one per GPU with mixed precision, or gloo processes on
a CPU; `inv train --procs N` (and --machines/--machine-rank/--main-ip across machines).

Usage of the entry point, as accelerate runs it: `accelerate launch -m fastcourse.train --name NAME ...`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from ..errors import OptionError, TrainError, UserError
from ..fileio import run_child
from ..paths import model_dir, project_root
from .config import TrainConfig
from .recipe import log, rank


def distributed_trainer(**kwargs):
    """fastai's DistributedTrainer (accelerate), made to work on CPU processes (gloo) too."""
    import torch
    from fastai.distributed import DistributedDL, DistributedTrainer

    class DL(DistributedDL):
        def _broadcast(self, t, rank):  # fastai moves to CUDA for nccl; gloo takes CPU tensors
            t = torch.LongTensor(t)
            t = t.cuda() if torch.distributed.get_backend() == "nccl" else t
            torch.distributed.broadcast(t, rank)
            return t.cpu().tolist()

    class Trainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            device = next(self.learn.model.parameters()).device  # a CPU model has no .device
            return dl if isinstance(dl, DistributedDL) else DL(dl, device=device)

    return Trainer(**kwargs)


def fit_distributed(learn, fit) -> None:
    """fit() under fastai's DistributedTrainer; afterwards rank 0 evaluates and exports alone."""
    import torch

    gpu = torch.cuda.is_available()
    trainer = distributed_trainer(sync_bn=gpu, cpu=not gpu)
    learn.add_cb(trainer)
    log(f"distributed: {trainer.accelerator.num_processes} processes, "
        f"{trainer.accelerator.distributed_type}, backend {trainer.accelerator.state.backend}")
    try:
        fit()
    finally:
        learn.remove_cb(trainer)
    trainer.accelerator.wait_for_everyone()
    os.environ["WORLD_SIZE"] = "1"  # no more gathers


def launch(cfg: TrainConfig, root: Path, procs: int = 1, machines: int = 1, machine_rank: int = 0,
           main_ip: str | None = None) -> dict:
    """Run the training under `accelerate launch` (GPU: one process per GPU, fp16; CPU: gloo); the metrics."""
    from ..data.folders import resolve
    from .run import model_locked
    from .vision import resolve_arch

    if machines > 1 and not main_ip:
        raise OptionError(f"--machines {machines} needs --main-ip, the address of the machine with "
                          "--machine-rank 0 (every machine passes the same --main-ip)")
    if not 0 <= machine_rank < machines:
        raise OptionError(f"--machine-rank {machine_rank} is out of range — use 0 to {machines - 1}")
    if cfg.task != "vision":
        raise OptionError(f"--procs/--machines: distributed training is for --task vision, not {cfg.task}")
    resolve_arch(cfg.arch)
    resolve(root, cfg.data, cfg.task)  # the embedded dataset is written once, here, not by every rank
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(procs * machines),
           "--num_machines", str(machines), "--machine_rank", str(machine_rank), "--dynamo_backend", "no"]
    # torchrun-style launch for both; on CPU accelerate then picks the gloo backend. Mixed precision
    # comes from fastai's to_fp16 in the training script, not from accelerate (one loss scaler, not two).
    cmd += ["--multi_gpu", "--mixed_precision", "no"]
    if main_ip:
        cmd += ["--main_process_ip", main_ip, "--main_process_port", "29500"]
    args = [a for k, v in vars(cfg).items() for a in (f"--{k}", str(v))]
    env = {**os.environ, "FASTCOURSE_HOME": str(root)}
    with model_locked(root, cfg.name):
        code = run_child(cmd + ["-m", "fastcourse.train", *args], env=env)
    if code:
        raise TrainError(f"accelerate launch exited with {code} — see the messages above")
    return json.loads((model_dir(root, cfg.name) / "metrics.json").read_text())


def parse(argv: list[str]) -> TrainConfig:
    """The TrainConfig that launch() passed as `--key value` pairs."""
    args, kw = list(argv), {}
    types = {f.name for f in fields(TrainConfig)}
    while args:
        key, val = args.pop(0).lstrip("-").replace("-", "_"), args.pop(0)
        kw[key] = None if val == "None" else {"True": True, "False": False}.get(val, val)
    for k in ("size", "epochs", "bs", "seed"):
        if kw.get(k) is not None:
            kw[k] = int(kw[k])
    for k in ("lr", "valid_pct"):
        if kw.get(k) is not None:
            kw[k] = float(kw[k])
    assert set(kw) <= types, f"unknown options {set(kw) - types}"
    return TrainConfig(**kw)


def main(argv: list[str] | None = None) -> None:
    """Entry point for `accelerate launch -m fastcourse.train --key value ...`."""
    from .run import train

    try:
        train(parse(sys.argv[1:] if argv is None else argv), project_root(), distributed=True)
    except UserError as e:  # expected failures: one line per rank, not a traceback
        print(f"train failed (rank {rank()}): {e}", file=sys.stderr, flush=True)
        sys.exit(1)
