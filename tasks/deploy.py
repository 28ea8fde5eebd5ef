"""Deploy to Hugging Face Spaces: `inv deploy --space USER/NAME [--model models/NAME | path/model.pkl] ...`.

The bundle is checked locally first (a clean virtualenv of its requirements alone, its example through
gradio_client); --dry-run stops there. A real deploy uploads it, then follows the Space until it runs
(--wait SECONDS, --no-wait), and prints its URL with the check's first answer.
"""

from fastcourse.console import table
from fastcourse.paths import project_root, space_dir

from ._opts import model_folder, number, task


@task(name="space", default=True, iterable=["example"], help={
    "example": "an example image for the Space (repeatable; default: a few from the training data)",
    "space": "the Space to create or update, as USER/NAME",
    "model": "model folder made by inv train (any task), or a fastai model.pkl (default models/digits)",
    "code": "for a model.pkl: a .py file defining the functions its notebook defined (e.g. is_cat)",
    "private": "create the Space as private",
    "dry_run": "build and check build/space/NAME/ locally, without contacting the Hub",
    "no_check": "upload without checking the bundle in a clean virtualenv first",
    "wait": "seconds to wait for the Space to build and run (default 300)",
    "no_wait": "return once uploaded, without waiting for the Space"})
def space(c, space, model="models/digits", code=None, private=False, dry_run=False, no_check=False, wait="300",
          no_wait=False, example=None):
    """Bundle the model as a gradio Space and create or update it on Hugging Face."""
    from fastcourse.credentials import require_token
    from fastcourse.schema import describe
    from fastcourse.serve import bundle as bd, hub

    from .app import check_bundle, examples

    hub.check_space_name(space)
    wait_s = None if no_wait else number(float, "wait", wait, 0, 86_400)
    token = None if dry_run else require_token()  # before any network call
    source = model_folder(model, code)
    print(describe(source), flush=True)
    name = space.split("/")[1]
    folder = bd.bundle(source, space_dir(project_root(), name), name, examples(example))
    checked = None if no_check and not dry_run else check_bundle(folder)
    if dry_run:
        print(table(bd.listing(folder)))
        print(f"dry run: bundle in {folder} checked; nothing was uploaded")
        return
    url = hub.deploy(folder, space, token, private, wait_s)
    print(f"deployed: {url}" if no_wait else f"deployed and running: {url}")
    if checked:
        print(f"its answer here, before the upload: {checked['example']} -> {checked['label']} "
              f"(first answer after {checked['first_answer_s']} s)")
