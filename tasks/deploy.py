"""Deploy to Hugging Face Spaces: `inv deploy --space USER/NAME [--model models/NAME] [--private] [--dry-run]`.

--dry-run builds and checks the bundle locally (clean virtualenv, one example through gradio_client);
a real deploy uploads it, then follows the Space until it runs (--wait SECONDS, --no-wait).
"""

from fastcourse.console import table
from fastcourse.paths import project_root, space_dir

from ._opts import number, task


@task(name="space", default=True, help={
    "space": "the Space to create or update, as USER/NAME",
    "model": "model folder made by inv train (default models/digits)",
    "private": "create the Space as private",
    "dry_run": "build and check build/space/NAME/ locally, without contacting the Hub",
    "wait": "seconds to wait for the Space to build and run (default 300)",
    "no_wait": "return once uploaded, without waiting for the Space"})
def space(c, space, model="models/digits", private=False, dry_run=False, wait="300", no_wait=False):
    """Bundle the model as a gradio Space and create or update it on Hugging Face."""
    from fastcourse.credentials import require_token
    from fastcourse.serve import bundle as bd, hub

    from .app import check_bundle

    hub.check_space_name(space)
    wait_s = None if no_wait else number(float, "wait", wait, 0, 86_400)
    token = None if dry_run else require_token()  # before any network call
    name = space.split("/")[1]
    folder = bd.bundle(project_root() / model, space_dir(project_root(), name), name)
    if dry_run:
        print(table(bd.listing(folder)))
        check_bundle(folder)
        print(f"dry run: bundle in {folder} checked; nothing was uploaded")
        return
    url = hub.deploy(folder, space, token, private, wait_s)
    print(f"deployed: {url}" if no_wait else f"deployed and running: {url}")
