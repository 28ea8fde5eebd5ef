"""A model as a Hugging Face Space folder (`inv app.bundle`): app.py, the portable model, example images,
requirements pinned for the Space's Python, the card; and the check that it runs from a clean virtualenv."""

from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path

from ..console import human_bytes
from ..errors import DeployError
from ..paths import remove_tree

PKG = Path(__file__).resolve().parents[1]  # src/fastcourse
APP_REQUIREMENTS = ["gradio", "onnxruntime", "numpy", "pillow"]  # what app.py needs: no torch, no fastai
SPACE_MODULES = ("errors.py", "images.py", "predict.py", "schema.py")  # the part of fastcourse a Space runs
EXAMPLES_PER_CLASS = 2


def model_config(model_dir: Path) -> dict:
    """The training config saved beside a model (empty for a model exported elsewhere), checked."""
    from ..schema import config

    return config(model_dir)


def example_images(config: dict, per_class: int = EXAMPLES_PER_CLASS) -> list[Path]:
    """A few images per class from the dataset the model was trained on."""
    data = Path(config.get("data", ""))
    if not data.is_dir():
        return []
    out = []
    for cls in sorted(d for d in data.iterdir() if d.is_dir()):
        out += sorted(f for f in cls.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))[:per_class]
    return out


def bundle(model_dir: Path, dest: Path, title: str) -> Path:
    """Write the Space into `dest`: app.py, the portable model, examples, requirements, README."""
    from ..predict import PortableModel

    PortableModel(model_dir)  # fails here, clearly, on a missing or broken model
    config = model_config(model_dir)
    owner = dest.parent  # build/space/: the only folder a bundle may replace things in
    tmp = owner / f".{dest.name}.tmp"
    remove_tree(tmp, owner)
    (tmp / "model").mkdir(parents=True)
    (tmp / "fastcourse").mkdir()
    (tmp / "examples").mkdir()
    shutil.copy(Path(__file__).with_name("app.py"), tmp / "app.py")
    for module in SPACE_MODULES:
        shutil.copy(PKG / module, tmp / "fastcourse" / module)
    (tmp / "fastcourse" / "serve").mkdir()
    shutil.copy(Path(__file__).with_name("interfaces.py"), tmp / "fastcourse" / "serve" / "interfaces.py")
    (tmp / "fastcourse" / "__init__.py").write_text('"""The part of fastcourse a Space needs."""\n')
    (tmp / "fastcourse" / "serve" / "__init__.py").write_text('"""The Space\'s gradio interfaces."""\n')
    for name in ("model.onnx", "model.json"):
        shutil.copy(model_dir / name, tmp / "model" / name)
    for img in example_images(config):
        shutil.copy(img, tmp / "examples" / f"{img.parent.name}-{img.name}")
    (tmp / "requirements.txt").write_text("".join(f"{p}=={metadata.version(p)}\n" for p in APP_REQUIREMENTS))
    (tmp / "README.md").write_text(readme(title, model_dir))
    remove_tree(dest, owner)  # replace the previous bundle only once the new one is complete
    tmp.rename(dest)
    return dest


def readme(title: str, model_dir: Path) -> str:
    """The Space card: front matter that Spaces reads, then a short description."""
    from ..schema import model_spec

    classes = model_spec(model_dir)["classes"]
    return (f"---\ntitle: {title}\nemoji: 🐦\ncolorFrom: blue\ncolorTo: green\nsdk: gradio\n"
            f"sdk_version: {metadata.version('gradio')}\npython_version: \"{space_python()}\"\napp_file: app.py\n"
            "license: apache-2.0\npinned: false\n---\n\n"
            f"# {title}\n\nAn image classifier ({', '.join(classes)}) trained with fastcourse "
            "(fast.ai's Practical Deep Learning for Coders). It runs the exported ONNX model with onnxruntime.\n")


def space_python() -> str:
    """The Python the bundle's requirements are pinned for: this one (the lock resolved them for it)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def check(folder: Path, port: int = 0) -> dict:
    """The bundle resolves for the Space's Python on Linux x86_64 and answers from a clean virtualenv."""
    from . import spacecheck

    problem = spacecheck.resolves(folder)
    if problem:
        raise DeployError(f"{folder}/requirements.txt does not resolve for Python {spacecheck.pinned_python(folder)} "
                          f"on Linux x86_64 ({problem}) — the Space would not build")
    return spacecheck.self_contained(folder, port)


def listing(folder: Path) -> list[dict]:
    """Files of a bundle with their sizes, for --dry-run."""
    return [{"file": p.relative_to(folder).as_posix(), "size": human_bytes(p.stat().st_size)}
            for p in sorted(folder.rglob("*")) if p.is_file()]
