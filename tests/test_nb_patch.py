"""inv nb.patch on course22's shapes: Kaggle branches, installs, competition data, opt-in submit/push."""

import sys
from pathlib import Path

import nbformat
import pytest
from conftest import run_inv
from helpers import official_notebook
from nbformat.v4 import new_code_cell, new_notebook


def test_patch_official_shapes(tmp_path):
    """nb.patch should drop Kaggle installs and pinned pip cells, rewrite search imports, keep a backup and outputs."""
    nb_path = official_notebook(tmp_path / "00-is-it-a-bird.ipynb")
    original = nb_path.read_bytes()
    p = run_inv("nb.patch", str(tmp_path), home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "change(s)" in p.stdout and "Kaggle-only install" in p.stdout
    assert (tmp_path / "00-is-it-a-bird.orig.ipynb").read_bytes() == original
    nb = nbformat.read(nb_path, as_version=4)
    nbformat.validate(nb)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    joined = "\n".join(code)
    assert "iskaggle" not in joined and "!pip install -Uqq fastai" not in joined
    assert "duckduckgo_search" not in joined and "ddg_images" not in joined
    assert "from ddgs import DDGS" in code[0] and "DDGS().images(term, max_results=max_images)" in code[1]
    assert "!pip install -Uqq timm" not in joined  # timm is pinned here now (course22 08-10)
    kept = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("urls ="))
    assert kept.outputs[0]["text"] == "Searching for 'bird photos'\n" and kept.execution_count == 3


def test_patch_is_idempotent(tmp_path):
    """Patching twice should change nothing the second time (same bytes, reported unchanged)."""
    nb_path = official_notebook(tmp_path / "lesson.ipynb")
    assert run_inv("nb.patch", str(nb_path), "--no-backup", home=tmp_path).returncode == 0
    once = nb_path.read_bytes()
    p = run_inv("nb.patch", str(nb_path), home=tmp_path)
    assert p.returncode == 0 and "unchanged" in p.stdout
    assert nb_path.read_bytes() == once
    assert not (tmp_path / "lesson.orig.ipynb").exists()


TITANIC_05 = ("import os\nfrom pathlib import Path\n\niskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n"
              "if iskaggle: path = Path('../input/titanic')\nelse:\n    path = Path('titanic')\n"
              "    if not path.exists():\n        import zipfile,kaggle\n        kaggle.api.competition_download_cli(str(path))\n"
              "        zipfile.ZipFile(f'{path}.zip').extractall(path)")


TITANIC_06 = ("from pathlib import Path\nimport os\n\niskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n"
              "if iskaggle:\n    path = Path('../input/titanic')\n    !pip install -Uqq fastai\nelse:\n"
              "    import zipfile,kaggle\n    path = Path('titanic')\n    kaggle.api.competition_download_cli(str(path))\n"
              "    zipfile.ZipFile(f'{path}.zip').extractall(path)")


FASTKAGGLE_08 = "# install fastkaggle if not available\ntry: import fastkaggle\nexcept ModuleNotFoundError:\n    !pip install -Uq fastkaggle\n\nfrom fastkaggle import *"


SETUP_08 = "comp = 'paddy-disease-classification'\n\npath = setup_comp(comp, install='fastai \"timm>=0.6.2.dev0\"')"


SUBMIT_08 = "if not iskaggle:\n    from kaggle import api\n    api.competition_submit_cli('subm.csv', 'initial rn26d 128px', comp)"


PUSH_08 = ("if not iskaggle:\n    push_notebook('jhoward', 'first-steps-road-to-the-top-part-1',\n"
           "                  title='First Steps: Road to the Top, Part 1',\n"
           "                  competition=comp, private=False, gpu=True)")


def course_notebook(path: Path, *sources) -> Path:
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def code_of(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("source, gone, expect", [
    (TITANIC_05, ["iskaggle", "competition_download_cli", "../input", "zipfile"], "path = kaggle_data('titanic')"),
    (TITANIC_06, ["iskaggle", "!pip", "competition_download_cli", "../input"], "path = kaggle_data('titanic')"),
    (FASTKAGGLE_08, ["try:", "!pip"], "import fastkaggle\n\nfrom fastkaggle import *"),
    (SETUP_08, ["setup_comp"], "path = kaggle_data(comp)"),
])
def test_patch_course_patterns(tmp_path, source, gone, expect):
    """Each course22 pattern should become its local, kit-backed form, valid Python, patched once only."""
    path = course_notebook(tmp_path / "nb.ipynb", source)
    assert run_inv("nb.patch", str(path), home=tmp_path).returncode == 0
    [code] = code_of(path)
    for g in gone:
        assert g not in code, (g, code)
    assert expect in code
    compile(code, "cell", "exec")  # no leftover else:, no shell escapes
    if "kaggle_data" in code:
        assert "from fastcourse.competitions import kaggle_data" in code
    again = run_inv("nb.patch", str(path), home=tmp_path)
    assert "unchanged" in again.stdout and (tmp_path / "nb.orig.ipynb").exists()


@pytest.mark.parametrize("source, var, name", [(SUBMIT_08, "FASTCOURSE_KAGGLE_SUBMIT", "api"),
                                               (PUSH_08, "FASTCOURSE_KAGGLE_PUSH", "push_notebook")])
def test_patched_account_actions_run_only_on_opt_in(tmp_path, monkeypatch, source, var, name):
    """Submitting and publishing cells should stay but run only when the learner opts in."""
    path = course_notebook(tmp_path / "nb.ipynb", source)
    assert run_inv("nb.patch", str(path), home=tmp_path).returncode == 0
    [code] = code_of(path)
    assert "iskaggle" not in code and f"{var}=1" in code
    calls = []

    class Api:
        def competition_submit_cli(self, *a):
            calls.append(a)

    import types
    fake_kaggle = types.ModuleType("kaggle")
    fake_kaggle.api = Api()  # stands in for the client: no submission may leave this machine
    monkeypatch.setitem(sys.modules, "kaggle", fake_kaggle)
    monkeypatch.setenv("KAGGLE_USERNAME", "learner")  # publishing is as the learner, never as the course's author
    for value, expected in ((None, 0), ("0", 0), ("1", 1)):
        monkeypatch.delenv(var, raising=False) if value is None else monkeypatch.setenv(var, value)
        calls.clear()
        exec(compile(code, "cell", "exec"), {"comp": "c", "push_notebook": lambda *a, **k: calls.append(a)})
        assert len(calls) == expected, (value, calls)
    if name == "push_notebook":
        assert calls[0][0] == "learner" and "jhoward" not in code


def test_patched_competition_cell_without_credentials_is_one_line(tmp_path):
    """Run headless without Kaggle credentials, the patched data cell should fail with the one-line how-to."""
    path = course_notebook(tmp_path / "titanic.ipynb", TITANIC_05)
    assert run_inv("nb.patch", str(path), home=tmp_path).returncode == 0
    env = {"HOME": str(tmp_path), "KAGGLE_API_TOKEN": None, "KAGGLE_USERNAME": None, "KAGGLE_KEY": None,
           "KAGGLE_CONFIG_DIR": None}
    p = run_inv("nb.run", str(path), home=tmp_path, env=env, timeout=300)
    assert p.returncode == 1 and "KaggleError: no Kaggle credentials found" in p.stdout
    html = (tmp_path / "build/notebooks/titanic.html").read_text()
    assert "kaggle auth login" in html and "Authentication required" not in html


def test_patch_one_malformed_notebook_does_not_stop_the_rest(tmp_path):
    """A broken notebook should be named and skipped; the others in the folder are still patched."""
    course_notebook(tmp_path / "a.ipynb", SETUP_08)
    (tmp_path / "b.ipynb").write_text("{ not json")
    p = run_inv("nb.patch", str(tmp_path), home=tmp_path)
    assert p.returncode == 1 and "b.ipynb: SKIPPED" in p.stdout and "Traceback" not in p.stderr
    assert "kaggle_data(comp)" in code_of(tmp_path / "a.ipynb")[0]
    assert (tmp_path / "b.ipynb").read_text() == "{ not json"


def test_a_linked_notebook_is_patched_where_it_lives(tmp_path):
    """A notebook that is a link inside the folder should be patched in its target, the link kept as a link."""
    (tmp_path / "course/lesson1").mkdir(parents=True)
    official_notebook(tmp_path / "course/lesson1/00-is-it-a-bird.ipynb")
    (tmp_path / "course/00.ipynb").symlink_to(tmp_path / "course/lesson1/00-is-it-a-bird.ipynb")
    p = run_inv("nb.patch", str(tmp_path / "course/00.ipynb"), home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "course/00.ipynb").is_symlink()
    assert "duckduckgo_search" not in (tmp_path / "course/lesson1/00-is-it-a-bird.ipynb").read_text()


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    """A notebook that links outside the folder given should be refused in one line, its target untouched."""
    official_notebook(tmp_path / "elsewhere.ipynb")
    before = (tmp_path / "elsewhere.ipynb").read_bytes()
    (tmp_path / "course").mkdir()
    (tmp_path / "course/00.ipynb").symlink_to(tmp_path / "elsewhere.ipynb")
    p = run_inv("nb.patch", str(tmp_path / "course"), home=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "00.ipynb is a link to" in p.stderr and f"inv nb.patch {tmp_path / 'elsewhere.ipynb'}" in p.stderr
    assert (tmp_path / "elsewhere.ipynb").read_bytes() == before


def test_patching_before_fetching_the_course_says_what_to_run(tmp_path):
    """inv nb.patch course22 before inv nb.course should say to run inv nb.course first."""
    p = run_inv("nb.patch", "course22", home=tmp_path)
    assert p.returncode == 1 and "fetch the course first (inv nb.course)" in p.stderr
