"""The gradio app: serve a model locally, or bundle it as a Hugging Face Space — any model the kit trains, or a
fastai model.pkl from a notebook (converted once into the same portable folder).

    inv app [--model models/NAME | --model path/model.pkl [--code labels.py]] [--port 7860] [--share]
    inv app.bundle [--model ...] [--title TITLE] [--check]     -> build/space/NAME/ (python build/space/NAME/app.py)
"""

from pathlib import Path

from fastcourse.console import table
from fastcourse.errors import UserError
from fastcourse.paths import project_root, space_dir

from ._opts import model_folder, number, task

MODEL_HELP = ("model folder made by inv train (any task), or a fastai model.pkl exported from a notebook "
              "(default models/digits)")
CODE_HELP = "for a model.pkl: a .py file defining the functions its notebook defined (e.g. is_cat)"


@task(name="serve", default=True, help={"model": MODEL_HELP, "code": CODE_HELP,
                                         "port": "port on 127.0.0.1 (default 7860)",
                                         "share": "also create a temporary public gradio.live link"})
def serve(c, model="models/digits", code=None, port="7860", share=False):
    """Serve the model as a local gradio app on 127.0.0.1 (an image, a form, or a user and an item)."""
    from fastcourse.predict import load
    from fastcourse.schema import describe
    from fastcourse.serve.bundle import example_images, model_config
    from fastcourse.serve.interfaces import make_app

    port = number(int, "port", port, 1, 65535)
    folder = model_folder(model, code)
    print(describe(folder), flush=True)
    app = make_app(folder, example_images(model_config(folder), load(folder).kind))
    try:
        app.launch(server_name="127.0.0.1", server_port=port, share=share, prevent_thread_lock=True,
                   quiet=True)
    except OSError as e:
        raise UserError(f"app: cannot listen on 127.0.0.1:{port} ({e}) — pass another --port")
    print(f"app for {folder} running at {app.local_url}" + (f" and {app.share_url}" if app.share_url else ""),
          flush=True)
    app.block_thread()


@task(iterable=["example"], help={"model": MODEL_HELP, "code": CODE_HELP, "title": "Space title (default: the model name)",
            "example": "an example image for the Space (repeatable; default: a few from the training data)",
            "name": "bundle folder name under build/space/ (default: the model name)",
            "check": "prove it self-contained: resolve its requirements for the Space's Python, run it from a "
                     "clean virtualenv and send it its example",
            "port": "port for --check's app (default: a free one)"})
def bundle(c, model="models/digits", code=None, title=None, name=None, check=False, port="0", example=None):
    """Build the Space folder build/space/NAME/ (app.py, portable model, examples, requirements, README)."""
    from fastcourse.schema import describe
    from fastcourse.serve.bundle import bundle as make_bundle, listing

    target = name and space_dir(project_root(), name)  # a bad --name is refused before any model work
    folder = model_folder(model, code)
    print(describe(folder), flush=True)
    name = name or (Path(model).stem if Path(model).suffix == ".pkl" else folder.name)
    out = make_bundle(folder, target or space_dir(project_root(), name), title or name, examples(example))
    print(table(listing(out)))
    print(f"bundle: {out}   (try it: python {out / 'app.py'})")
    if check:
        check_bundle(out, number(int, "port", port, 0, 65535))
    return out


def examples(paths) -> list[Path]:
    """The --example images, each checked to be one."""
    from fastcourse.errors import DataError
    from fastcourse.images import open_image

    out = []
    for p in paths or []:
        path = project_root() / p
        if not path.is_file():
            raise DataError(f"--example {p}: no such file — give an image file")
        open_image(path)
        out.append(path)
    return out


def check_bundle(folder: Path, port: int = 0) -> dict:
    """Run the self-containment check and print what it found; returns it."""
    from fastcourse.serve.bundle import check

    print("checking the bundle in a clean virtualenv made from its requirements.txt alone ...", flush=True)
    r = check(folder, port)
    print(f"check: Python {r['python']}, {r['example']} -> {r['label']}, first answer after {r['first_answer_s']} s "
          f"(venv {r['venv']})")
    return r
