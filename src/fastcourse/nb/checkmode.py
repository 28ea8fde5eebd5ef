"""What the course check changes inside each notebook's kernel (loaded by an IPython startup file that
`inv nb.course --check` writes into a scratch IPYTHONDIR). Nothing here runs in a learner's own kernels.

- the network: only 127.0.0.1 is reached; the 1.1.1.1:53 "is the internet on?" probe of lesson 1 reaches a
  local listener; ddgs' image search answers with images of a local server;
- timm's architectures are built with the same code but tiny widths and depths (SHRINK), and their
  "pretrained" weights come from a scratch Hugging Face cache of seeded random weights;
- training is cut: every fit to one epoch of at most MAX_BATCHES batches, lr_find to 30 steps, sleeps to 0.1 s.
"""

from __future__ import annotations

import os
import socket

MAX_BATCHES = 2  # training batches per epoch in check mode
SHRINK = {  # timm family -> arguments that keep its code path (blocks, NHWC features, heads) but make it tiny
    "resnet": {"layers": (1, 1, 1, 1)},
    "convnext": {"depths": (1, 1, 1, 1), "dims": (16, 32, 64, 128)},
    "vit": {"depth": 1, "embed_dim": 64, "num_heads": 2},
    "swinv2": {"depths": (1, 1, 1, 1), "embed_dim": 16, "num_heads": (1, 1, 2, 2)},
    "swin": {"depths": (1, 1, 1, 1), "embed_dim": 16, "num_heads": (1, 1, 2, 2)},
}


def shrink(arch: str) -> dict:
    """The SHRINK arguments of the family `arch` belongs to ({} for an unknown family: built as it is)."""
    return next((kw for family, kw in SHRINK.items() if arch.startswith(family)), {})


def _network(internet: tuple[str, int]) -> None:
    """Connections to anything but loopback are refused; lesson 1's probe of 1.1.1.1:53 goes to `internet`."""
    connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host == "1.1.1.1" and address[1] == 53:
            return connect(self, internet)
        if host is not None and host not in ("127.0.0.1", "localhost", "::1"):
            raise ConnectionRefusedError(f"course check: no requests off 127.0.0.1 ({host})")
        return connect(self, address)

    socket.socket.connect = guarded


def _search(images: str) -> None:
    """ddgs' DDGS().images(query) -> URLs of the local image server (images/QUERY/N.jpg)."""
    from ddgs.ddgs import DDGS  # ddgs.DDGS is a lazy proxy of this class

    def images_of(self, query, max_results=None, **kw):
        n = min(max_results or 30, 30)  # enough for a full batch of 64 in lesson 1
        return [{"image": f"{images}/{query.replace(' ', '_')}/{i}.jpg", "title": query} for i in range(n)]

    DDGS.images = images_of


def _timm() -> None:
    """timm.create_model builds each architecture tiny (SHRINK); its pretrained weights are in the scratch cache."""
    import timm

    create = timm.create_model

    def tiny(name, *args, **kwargs):
        return create(name, *args, **{**shrink(str(name)), **kwargs})

    timm.create_model = tiny


def _training() -> None:
    """fit: one epoch of at most MAX_BATCHES batches; lr_find: 30 steps; time.sleep: at most 0.1 s."""
    import time

    from fastai.callback.core import Callback, CancelTrainException
    from fastai.callback.schedule import LRFinder
    from fastai.learner import Learner
    from fastcore.foundation import L

    class FewBatches(Callback):
        order = 100

        def after_batch(self):
            if self.training and self.iter + 1 >= MAX_BATCHES:
                raise CancelTrainException

    fit, lr_find, sleep = Learner.fit, Learner.lr_find, time.sleep

    def short_fit(self, n_epoch, *args, cbs=None, **kwargs):
        if any(isinstance(c, LRFinder) for c in L(cbs)):
            return fit(self, n_epoch, *args, cbs=cbs, **kwargs)
        return fit(self, min(n_epoch, 1), *args, cbs=[FewBatches(), *L(cbs)], **kwargs)

    Learner.fit = short_fit  # (the suggestion functions of lr_find need about 20 points: 30 steps)
    Learner.lr_find = lambda self, *a, num_it=100, **kw: lr_find(self, *a, num_it=min(num_it, 30), **kw)
    time.sleep = lambda s: sleep(min(s, 0.1))


def install() -> None:
    """Everything above, from the settings the check put in the environment (--full: no cuts, no shrinking)."""
    _network(("127.0.0.1", int(os.environ["FASTCOURSE_CHECK_INTERNET_PORT"])))
    _search(os.environ["FASTCOURSE_CHECK_IMAGES"])
    if os.environ.get("FASTCOURSE_CHECK_FULL") != "1":
        _timm()
        _training()
