"""Issue 11: Kaggle competition data through the real kaggle client against a local fake API, and the
doctor's credentials row. The client's TEST environment means http://localhost:7777 (kagglesdk)."""

import io
import json
import os
import socket
import zipfile
from http.server import BaseHTTPRequestHandler

import pytest

from conftest import run_inv
from fastcourse import doctor
from localserver import LocalServer, _Server

SECRET = "KGAT_secretvalue0123456789"


def titanic_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("train.csv", "PassengerId,Survived\n1,0\n2,1\n")
        z.writestr("test.csv", "PassengerId\n3\n")
    return buf.getvalue()


class FakeKaggle(LocalServer):
    """Kaggle's API as kagglesdk calls it: POST .../DownloadDataFiles redirects to the zip, or refuses."""

    def __init__(self, refuse: int | None = None):
        outer = self
        self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append(self.path)
                if refuse:
                    body = json.dumps({"code": refuse, "message": "refused"}).encode()
                    self.send_response(refuse)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(302)
                self.send_header("Location", "http://localhost:7777/files/titanic.zip")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                body = titanic_zip()
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self.httpd = _Server(("127.0.0.1", 7777), Handler)
        except OSError:
            pytest.skip("port 7777 (the kaggle client's TEST endpoint) is in use on this machine")
        self.httpd.daemon_threads = True


def kaggle_env(home, **creds):
    """A learner's environment with its own HOME and the client pointed at the local fake API."""
    env = {"HOME": str(home), "KAGGLE_API_ENVIRONMENT": "TEST", "KAGGLE_CONFIG_DIR": None, "KAGGLE_API_TOKEN": None,
           "KAGGLE_USERNAME": None, "KAGGLE_KEY": None, "XDG_CONFIG_HOME": None, "NO_PROXY": "localhost,127.0.0.1",
           "no_proxy": "localhost,127.0.0.1"}
    return {**env, **creds}


LEGACY = {"KAGGLE_USERNAME": "learner", "KAGGLE_KEY": SECRET}


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


@pytest.mark.parametrize("form", ["KAGGLE_API_TOKEN", "access_token", "oauth", "legacy-env", "kaggle.json",
                                  "xdg kaggle.json", "none"])
def test_doctor_finds_every_credential_form(tmp_path, form):
    """The doctor's Kaggle row should find each form the kaggle 2.x client accepts, and never show its value."""
    env, kdir = {}, tmp_path / ".kaggle"
    kdir.mkdir()
    if form == "KAGGLE_API_TOKEN":
        env["KAGGLE_API_TOKEN"] = SECRET
    elif form == "access_token":
        (kdir / "access_token").write_text(SECRET)
    elif form == "oauth":
        (kdir / "credentials.json").write_text(json.dumps({"refresh_token": SECRET}))
    elif form == "legacy-env":
        env.update(LEGACY)
    elif form == "kaggle.json":
        (kdir / "kaggle.json").write_text(json.dumps({"username": "u", "key": SECRET}))
    elif form == "xdg kaggle.json":
        (tmp_path / ".config/kaggle").mkdir(parents=True)
        (tmp_path / ".config/kaggle/kaggle.json").write_text(json.dumps({"username": "u", "key": SECRET}))
    for f in [*kdir.iterdir(), *(tmp_path / ".config").rglob("*.json")]:
        f.chmod(0o600)
    check = doctor.check_kaggle(env, home=tmp_path)
    assert SECRET not in str(check)
    assert check.status == ("warn" if form == "none" else "ok"), check


def test_doctor_warns_about_a_readable_credentials_file(tmp_path):
    """A kaggle.json that others can read should be a warning with the chmod fix."""
    (tmp_path / ".kaggle").mkdir()
    path = tmp_path / ".kaggle/kaggle.json"
    path.write_text(json.dumps({"username": "u", "key": SECRET}))
    path.chmod(0o644)
    check = doctor.check_kaggle({}, home=tmp_path)
    assert check.status == "warn" and check.fix == f"chmod 600 {path}" and SECRET not in str(check)


def test_doctor_graphviz_row():
    """The doctor should report graphviz's dot where it is, and warn with the install line where it is not."""
    assert doctor.check_graphviz(lambda name: "/usr/bin/dot").status == "ok"
    missing = doctor.check_graphviz(lambda name: None)
    assert missing.status == "warn" and "apt-get install graphviz" in missing.fix


def test_kaggle_error_renders_as_one_line_in_jupyter():
    """A UserError shown by IPython (a notebook cell) should be one line, not a traceback."""
    from fastcourse.competitions import KaggleError

    assert KaggleError("no Kaggle credentials found — x")._render_traceback_() == [
        "KaggleError: no Kaggle credentials found — x"]


def test_import_kaggle_prints_a_banner_without_credentials(tmp_path):
    """The fact the kit guards against: the client prints a multi-line banner on import with no credentials."""
    import subprocess
    import sys

    env = {k: v for k, v in {**os.environ, **kaggle_env(tmp_path)}.items() if v is not None}
    r = subprocess.run([sys.executable, "-c", "import kaggle"], env=env, capture_output=True, text=True, timeout=120)
    assert "Authentication required" in r.stdout + r.stderr
