"""Deploy to Hugging Face Spaces: `inv deploy --space USER/NAME [--model models/NAME] [--private] [--dry-run]`."""

from fastcourse.util import project_root, space_dir, table

from ._opts import task


@task(name="space", default=True, help={
    "space": "the Space to create or update, as USER/NAME",
    "model": "model folder made by inv train (default models/digits)",
    "private": "create the Space as private",
    "dry_run": "build build/space/NAME/ and list its files, without contacting the Hub"})
def space(c, space, model="models/digits", private=False, dry_run=False):
    """Bundle the model as a gradio Space and create or update it on Hugging Face."""
    from fastcourse import deploy as dp

    dp.check_space_name(space)
    token = None if dry_run else dp.require_token()  # before any network call
    name = space.split("/")[1]
    folder = dp.bundle(project_root() / model, space_dir(project_root(), name), name)
    if dry_run:
        print(table(dp.listing(folder)))
        print(f"dry run: bundle in {folder}; nothing was uploaded")
        return
    print(f"deployed: {dp.deploy(folder, space, token, private)}")
