"""Deploy to Hugging Face Spaces: `inv deploy --space USER/NAME [--model models/NAME] [--private] [--dry-run]`."""

from invoke import Exit, task

from fastcourse.util import project_root, table


@task(name="space", default=True, help={
    "space": "the Space to create or update, as USER/NAME",
    "model": "model folder made by inv train (default models/digits)",
    "private": "create the Space as private",
    "dry_run": "build build/space/NAME/ and list its files, without contacting the Hub"})
def space(c, space, model="models/digits", private=False, dry_run=False):
    """Bundle the model as a gradio Space and create or update it on Hugging Face."""
    from fastcourse import deploy as dp
    from fastcourse.predict import ModelError

    try:
        dp.check_space_name(space)
        token = None if dry_run else dp.find_token()[0]
        if not dry_run and not token:  # before any network call
            raise dp.DeployError("no Hugging Face token found — set HF_TOKEN or run `hf auth login`")
        name = space.split("/")[1]
        folder = dp.bundle(project_root() / model, project_root() / "build" / "space" / name, name)
        if dry_run:
            print(table(dp.listing(folder)))
            print(f"dry run: bundle in {folder}; nothing was uploaded")
            return
        url = dp.deploy(folder, space, token, private)
    except (dp.DeployError, ModelError) as e:
        raise Exit(f"deploy: {e}")
    print(f"deployed: {url}")
