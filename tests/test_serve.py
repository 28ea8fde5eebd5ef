"""inv app, app.bundle and deploy: the bundle, a clean-virtualenv check, a real browser, the local fake Hub."""

import json
import os
import subprocess
import sys
import tempfile

import pytest
from conftest import GOOD_SPEC, REPO, closed_port_url, free_port, run_inv, wait_http
from fakehub import VALID_TOKEN, FakeHub
from gradio_client import Client, handle_file
from helpers import browser_path, hostile, ids, tiny_classifier
from PIL import Image

SCREENSHOTS = REPO / "build" / "test-artifacts"


DUMMY = "hf_dummySECRETtoken0000000000000000000"


def start(cmd, home, **env):
    """Start a server process with the project folder `home`; its output goes to files (no pipe to fill)."""
    e = {**os.environ, "FASTCOURSE_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False", **env}
    out, err = (tempfile.TemporaryFile("w+") for _ in range(2))
    proc = subprocess.Popen(cmd, env=e, cwd=home, stdout=out, stderr=err, text=True)
    proc.out, proc.err = out, err
    return proc


def stop(proc) -> tuple[str, str]:
    """Terminate a server started by start(); returns its stdout and stderr."""
    proc.terminate()
    proc.wait(timeout=30)
    for f in (proc.out, proc.err):
        f.seek(0)
    return proc.out.read(), proc.err.read()


@pytest.fixture(scope="module")
def bundle(trained):
    home, _ = trained
    p = run_inv("app.bundle", home=home)
    assert p.returncode == 0, p.stderr
    return home / "build/space/digits"


@pytest.mark.slow
def test_bundle_contents(bundle):
    """The Space bundle should hold a short app.py, the portable model, examples, pinned app-only requirements and a card."""
    from importlib import metadata

    assert len((bundle / "app.py").read_text().splitlines()) < 40
    assert (bundle / "model/model.onnx").stat().st_size > 0 and (bundle / "model/model.json").exists()
    assert {p.name.split("-")[0] for p in (bundle / "examples").iterdir() if p.suffix == ".png"} == {"3", "7"}
    call = json.loads((bundle / "examples/example.json").read_text())  # what the Space check sends
    assert call["files"] == [0] and call["args"][0].startswith("examples/3-")
    reqs = dict(l.split("==") for l in (bundle / "requirements.txt").read_text().split())
    assert reqs["gradio"] == metadata.version("gradio") and reqs["onnxruntime"] == metadata.version("onnxruntime")
    assert not {"fastai", "torch", "fastcore"} & set(reqs)
    card = (bundle / "README.md").read_text()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    for line in ("sdk: gradio", f"sdk_version: {metadata.version('gradio')}", "app_file: app.py", "license:", "title:",
                 f'python_version: "{py}"'):
        assert line in card


@pytest.mark.slow
def test_bundle_requirements_resolve_for_the_space_python(bundle):
    """The bundle's requirements should resolve, wheels only, for its pinned Python on Linux x86_64 (uv)."""
    from fastcourse.serve import spacecheck

    problem = spacecheck.resolves(bundle)
    if problem and any(w in problem.lower() for w in ("network", "connect", "dns", "failed to fetch")):
        pytest.skip(f"the package index is unreachable from here: {problem}")
    assert problem == ""
    (bundle.parent / "old").mkdir(exist_ok=True)
    old = bundle.parent / "old"
    (old / "README.md").write_text('---\npython_version: "3.10"\n---\n')
    (old / "requirements.txt").write_text((bundle / "requirements.txt").read_text())
    assert spacecheck.resolves(old) != ""  # Spaces' old default Python (3.10) cannot take these pins: caught


@pytest.mark.slow
def test_bundle_check_runs_it_from_a_clean_virtualenv(trained):
    """app.bundle --check should run the bundle from a venv of its requirements alone and print the label."""
    home, _ = trained
    p = run_inv("app.bundle", "--check", home=home, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    line = next(l for l in p.stdout.splitlines() if l.startswith("check: Python"))
    assert " -> 3," in line or " -> 7," in line
    assert "first answer after" in line and "space-venvs" in line


@pytest.mark.slow
def test_bundled_app_answers_through_gradio_client(bundle, trained):
    """python build/space/NAME/app.py should serve predictions with the right label (no fastai imported)."""
    home, _ = trained
    port = free_port()
    proc = start([sys.executable, "-X", "importtime", str(bundle / "app.py"), "--port", str(port)], home)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for digit in ("3", "7"):
            image = sorted((home / "data/digits/images" / digit).glob("*.png"))[-1]
            assert client.predict(handle_file(str(image)), api_name="/predict")["label"] == digit
    finally:
        _, err = stop(proc)
    imported = {l.split("|")[-1].strip() for l in err.splitlines() if l.startswith("import time:")}
    assert "fastai" not in imported and "torch" not in imported


@pytest.mark.slow
def test_app_in_a_real_browser(trained):
    """inv app should serve a page where uploading an image shows its label; the screenshot is kept."""
    from playwright.sync_api import sync_playwright

    home, _ = trained
    port = free_port()
    proc = start([sys.executable, "-m", "invoke", "-r", str(REPO), "app", "--port", str(port)], home)
    image = sorted((home / "data/digits/images/7").glob("*.png"))[-1]
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path(), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("input[type=file]").first.set_input_files(str(image))
            page.get_by_role("button", name="Submit").click()
            label = page.locator("[data-testid=label-output-value]").first
            label.wait_for(timeout=30000)
            page.wait_for_function("document.querySelector('[data-testid=label-output-value]').innerText.trim() !== ''")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "app-browser.png"), full_page=True)
            text = label.inner_text().strip()
            browser.close()
    finally:
        out, _ = stop(proc)
    assert text == "7"
    assert f"http://127.0.0.1:{port}" in out


@pytest.mark.slow
@pytest.mark.parametrize("broken", ["missing", "garbage"])
def test_app_refuses_bad_model_before_serving(tmp_path, broken):
    """A missing or broken model should stop inv app with a clear error, before any server starts."""
    model = tmp_path / "models/bad"
    if broken == "garbage":
        model.mkdir(parents=True)
        (model / "model.json").write_text(json.dumps(GOOD_SPEC))
        (model / "model.onnx").write_bytes(b"\0garbage")
    p = run_inv("app", "--model", "models/bad", "--port", str(free_port()), home=tmp_path, timeout=120)
    assert p.returncode != 0
    assert ("not found" if broken == "missing" else "broken model") in p.stderr
    assert "Running on" not in p.stdout + p.stderr


def deploy(home, hub, *args, token=DUMMY, hf_home=None):
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(hf_home or home / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_TOKEN": token or None, "HF_TOKEN_PATH": None, "HF_HUB_OFFLINE": None}  # None: unset in the child
    return run_inv("deploy", *args, home=home, env=env)


@pytest.mark.slow
def test_deploy_creates_gradio_space_and_uploads(trained):
    """deploy should create a gradio Space and upload the bundle's files through the Hub API."""
    home, _ = trained
    with FakeHub() as hub:
        p = deploy(home, hub, "--space", "learner/digits", token=VALID_TOKEN)
    assert p.returncode == 0, p.stderr
    assert hub.repos["learner/digits"]["type"] == "space" and hub.repos["learner/digits"]["sdk"] == "gradio"
    bundle = home / "build/space/digits"
    local = {q.relative_to(bundle).as_posix() for q in bundle.rglob("*") if q.is_file()}
    assert set(hub.files["learner/digits"]) == local
    assert hub.files["learner/digits"]["model/model.onnx"] == (bundle / "model/model.onnx").read_bytes()
    lines = p.stdout.strip().splitlines()
    assert lines[-2].endswith(f"{hub.url}/spaces/learner/digits") and lines[-1].startswith("its answer here")
    assert VALID_TOKEN not in p.stdout + p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stages, args, code, expect", [
    (["BUILDING", "RUNNING_BUILDING", "RUNNING"], [], 0, ["BUILDING", "RUNNING_BUILDING", "RUNNING", "deployed and running:"]),
    (["BUILDING", "BUILD_ERROR"], [], 1, ["stopped at BUILD_ERROR", "/spaces/learner/digits?logs=build"]),
    (["BUILDING", "RUNTIME_ERROR"], [], 1, ["stopped at RUNTIME_ERROR", "?logs=container"]),
    (["BUILDING"], ["--wait", "1"], 1, ["still BUILDING after 1 s"]),
    (["BUILDING"], ["--no-wait"], 0, ["deployed:"]),
])
def test_deploy_follows_the_space_until_it_runs(trained, stages, args, code, expect):
    """After the upload, deploy should show each stage and end on RUNNING, a failing stage, or the timeout."""
    home, _ = trained
    with FakeHub(stages=stages) as hub:
        p = deploy(home, hub, "--space", "learner/digits", *args, token=VALID_TOKEN)
    out = p.stdout + p.stderr
    assert p.returncode == code, out[-2000:]
    for e in expect:
        assert e in out, (e, out[-2000:])
    polled = [r for r in hub.requests if r["path"].endswith("/runtime")]
    assert (not polled) if "--no-wait" in args else polled
    if code:
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


@pytest.mark.slow
def test_deploy_without_token_makes_no_request(trained, tmp_path):
    """No token at all: exit non-zero naming HF_TOKEN and `hf auth login`, and not one request sent."""
    home, _ = trained
    with FakeHub() as hub:
        p = deploy(home, hub, "--space", "learner/digits", token=None, hf_home=tmp_path)
    assert p.returncode != 0 and hub.requests == []
    assert "HF_TOKEN" in p.stderr and "hf auth login" in p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("space,token,expect", [
    ("learner/digits", DUMMY, "rejected the token"),
    ("someone/taken", VALID_TOKEN, "belongs to another account"),
])
def test_deploy_explains_refusals_without_leaking_token(trained, space, token, expect):
    """An invalid token or a taken name should be one clear line; the token never shows up anywhere."""
    home, _ = trained
    with FakeHub(taken={"someone/taken"}) as hub:
        p = deploy(home, hub, "--space", space, token=token)
    assert p.returncode != 0 and expect in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert token not in p.stdout + p.stderr
    for f in (home / "build").rglob("*"):
        if f.is_file() and f.stat().st_size < 10**7:
            assert token.encode() not in f.read_bytes(), f


@pytest.mark.slow
def test_dry_run_lists_files_and_sends_nothing(trained):
    """--dry-run should build and list the bundle without a token and without contacting the Hub."""
    home, _ = trained
    with FakeHub() as hub:
        p = deploy(home, hub, "--space", "learner/digits", "--dry-run", token=None)
    assert p.returncode == 0 and hub.requests == []
    assert "model/model.onnx" in p.stdout and "MB" in p.stdout and "nothing was uploaded" in p.stdout


@pytest.mark.slow
def test_pretrained_model_serves_through_gradio_client(pretrained):
    """The model from the pretrained path (seeded weights cache) should bundle and answer through gradio_client."""
    home, _ = pretrained
    assert run_inv("app.bundle", home=home).returncode == 0
    port = free_port()
    proc = start([sys.executable, str(home / "build/space/digits/app.py"), "--port", str(port)], home)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        image = sorted((home / "data/digits/images/7").glob("*.png"))[0]
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(handle_file(str(image)), api_name="/predict")
    finally:
        stop(proc)
    assert result["label"] in ("3", "7") and {c["label"] for c in result["confidences"]} == {"3", "7"}


@pytest.mark.slow
def test_deploy_to_unreachable_endpoint_is_one_line(trained):
    """deploy to a Hub that refuses connections should be one line naming the endpoint; the token never shown."""
    home, _ = trained
    endpoint = closed_port_url()
    p = run_inv("deploy", "--space", "me/x", home=home,
                env={"HF_TOKEN": "hf_secretvalue123", "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": None})
    assert p.returncode == 1 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert f"could not reach the Hugging Face Hub at {endpoint}" in p.stderr
    assert "hf_secretvalue123" not in p.stdout + p.stderr


def test_bundle_name_cannot_reach_outside_build_space(tmp_path):
    """app.bundle --name with separators should be refused before anything is removed."""
    (tmp_path / "data/precious").mkdir(parents=True)
    (tmp_path / "data/precious/x.txt").write_text("keep")
    for name in ("../../data", "../space2", "/abs", "."):
        p = run_inv("app.bundle", "--name", name, home=tmp_path)
        assert p.returncode == 1 and "is not a plain name" in p.stderr
    assert (tmp_path / "data/precious/x.txt").read_text() == "keep"


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["app", "--port", "99999"], {}, "--port 99999 is out of range", None),
    (["app", "--model", "models/nolabels"], {}, "classes is missing", None),
    (["app", "--model", "models/zoom"], {}, "resize must be one of squish, crop, pad", None),
    (["app.bundle", "--name", "../../data"], {}, "is not a plain name", None),
    (["app.bundle", "--model", "models/mismatch"], {}, "classes lists 3 names", None),
    (["deploy", "--space", "me/x", "--model", "models/nolabels"], {"HF_TOKEN": "hf_x"}, "classes is missing", None),
    (["deploy", "--space", "not a space"], {}, "must look like USER/NAME", None),
    (["deploy", "--space", "me/x\n"], {}, "must look like USER/NAME", None),
    (["deploy", "--space", "mé/bird"], {}, "must look like USER/NAME", None),
    (["deploy", "--space", "me/x", "--wait", "-1"], {}, "--wait -1 is out of range", None),
    (["deploy", "--space", "me/x", "--model", "models/good"], {"HF_TOKEN": "hf_abc def"}, "holds ' ', which no token has",
     None),
    (["deploy", "--space", "me/x", "--model", "models/good"], {"HF_TOKEN": None, "HF_HOME": "hf16"},
     "is UTF-16 text — save it as UTF-8", None),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_serve(tmp_path, args, env, message, owns):
    """inv app, app.bundle and deploy with bad input should end in one line, before any server or request."""
    (tmp_path / "hf16").mkdir()
    (tmp_path / "hf16/token").write_text("hf_secret0123456789\r\n", encoding="utf-16")
    env = {**env, "HF_HOME": str(tmp_path / env["HF_HOME"])} if env.get("HF_HOME") else env
    p = hostile(tmp_path, args, env, message, owns)
    assert "hf_secret0123456789" not in p.stdout + p.stderr and "hf_abc" not in p.stdout + p.stderr


def test_token_with_a_windows_line_end_is_used_as_it_should_be():
    """A token saved with a trailing \\r\\n (Windows Notepad) should be found without it, never refused as 'offline'."""
    from fastcourse.credentials import require_token

    assert require_token({"HF_TOKEN": "hf_abc123\r\n"}) == "hf_abc123"


@pytest.fixture(scope="module")
def tiny_app(tmp_path_factory):
    """inv app on a tiny portable model (no training), and a gradio_client connected to it."""
    home = tmp_path_factory.mktemp("tiny-app")
    tiny_classifier(home / "models/tiny")
    port = free_port()
    proc = start([sys.executable, "-m", "invoke", "-r", str(REPO), "app", "--model", "models/tiny", "--port",
                  str(port)], home)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield Client(f"http://127.0.0.1:{port}/", verbose=False), proc, home
    finally:
        stop(proc)


@pytest.mark.parametrize("name, make, message", [
    ("big.png", lambda p: Image.new("1", (13000, 13000)).save(p), "refused as a decompression bomb"),
    ("notes.png", lambda p: p.write_text("not an image at all"), "is not an image that can be read"),
    ("truncated.jpg", lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 40), "is not an image that can be read"),
])
def test_app_refuses_bad_uploads_in_one_line(tiny_app, tmp_path, name, make, message):
    """The app should answer a bomb or a non-image with one line (a gradio error), decode nothing big, print no
    traceback, and go on answering good images."""
    from gradio_client.exceptions import AppError

    client, proc, _ = tiny_app
    bad = tmp_path / name
    make(bad)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(bad)), api_name="/predict")
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 40), (250, 10, 10)).save(good)
    assert client.predict(handle_file(str(good)), api_name="/predict")["label"] in ("3", "7")
    proc.err.seek(0)
    assert "Traceback" not in proc.err.read()
