"""inv data.kaggle: download and unzip once, refusals and offline in one line."""

import os
import socket

import pytest
from conftest import run_inv
from fakekaggle import LEGACY, SECRET, FakeKaggle, kaggle_env


def test_data_kaggle_downloads_and_unzips_once(tmp_path):
    """data.kaggle should put the competition's files in data/kaggle/NAME/, and not download them twice."""
    with FakeKaggle() as api:
        p = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path, **LEGACY))
        assert p.returncode == 0, p.stderr
        again = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path, **LEGACY))
    dest = tmp_path / "data/kaggle/titanic"
    assert (dest / "train.csv").read_text().startswith("PassengerId,Survived")
    assert again.returncode == 0 and len(api.calls) == 1
    assert not (tmp_path / "data/kaggle/.titanic.part").exists()
    assert SECRET not in p.stdout + p.stderr
    assert api.calls == ["/api/v1/competitions.CompetitionApiService/DownloadDataFiles"]


@pytest.mark.parametrize("refuse, message", [
    (401, "Kaggle rejected the credentials (401) — run `kaggle auth login`"),
    (403, "accept the competition's rules at https://www.kaggle.com/competitions/titanic/rules"),
])
def test_data_kaggle_refusals_are_one_line(tmp_path, refuse, message):
    """401 and 403 should each be one line saying what to do; nothing is left in data/kaggle/titanic."""
    with FakeKaggle(refuse=refuse):
        p = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path, **LEGACY))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and message in p.stderr
    assert not (tmp_path / "data/kaggle/titanic").exists() and SECRET not in p.stdout + p.stderr


def test_data_kaggle_offline_and_without_credentials(tmp_path):
    """Nothing listening on the API, or no credentials at all: one line each, no banner from the client."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 7777)) == 0:
            pytest.skip("something listens on port 7777 here")
    p = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path, **LEGACY))
    assert p.returncode == 1 and p.stderr.strip().startswith("could not reach Kaggle")
    none = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path))
    assert none.returncode == 1 and "Authentication required" not in none.stdout + none.stderr
    assert none.stderr.strip().startswith("no Kaggle credentials found — run `kaggle auth login`")


def test_kaggle_error_renders_as_one_line_in_jupyter():
    """A UserError shown by IPython (a notebook cell) should be one line, not a traceback."""
    from fastcourse.errors import KaggleError

    assert KaggleError("no Kaggle credentials found — x")._render_traceback_() == [
        "KaggleError: no Kaggle credentials found — x"]


def test_import_kaggle_prints_a_banner_without_credentials(tmp_path):
    """The fact the kit guards against: the client prints a multi-line banner on import with no credentials."""
    import subprocess
    import sys

    env = {k: v for k, v in {**os.environ, **kaggle_env(tmp_path)}.items() if v is not None}
    r = subprocess.run([sys.executable, "-c", "import kaggle"], env=env, capture_output=True, text=True, timeout=120)
    assert "Authentication required" in r.stdout + r.stderr
