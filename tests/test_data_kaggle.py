"""inv data.kaggle: download and unzip once, refusals and offline in one line."""

import os
import socket
import zipfile

import pytest
from conftest import run_inv
from fakekaggle import LEGACY, SECRET, FakeKaggle, kaggle_env
from helpers import hostile, ids


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


def zip_with(*members) -> bytes:
    """A zip of (name, data, method, flags) members; method 9 (Deflate64) and the encryption flag, which
    zipfile cannot write, are set in the headers afterwards, as a hostile competition might serve them."""
    import io
    import struct

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method, _ in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED if method == 9 else method
            z.writestr(info, data)
    raw = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        infos, pos = z.infolist(), z.start_dir
    for info, (_, _, method, flags) in zip(infos, members):
        for at in (info.header_offset + 6, pos + 8):  # flags, then method: in the local and the central header
            if flags:
                raw[at:at + 2] = struct.pack("<H", flags)
            if method == 9:
                raw[at + 2:at + 4] = struct.pack("<H", 9)
        pos += 46 + sum(struct.unpack("<HHH", raw[pos + 28:pos + 34]))
    return bytes(raw)


@pytest.mark.parametrize("body, message", [
    (b"<html>not a zip</html>", "titanic.zip is not a complete zip — run again to download it afresh"),
    (lambda: zip_with(("train.csv", b"a,b\n" * 50, 9, 0)), "compressed with Deflate64, which Python cannot unpack"),
    (lambda: zip_with(("train.csv", b"a,b\n", zipfile.ZIP_STORED, 1)), "train.csv: encrypted"),
    (lambda: zip_with(("Train.csv", b"1", zipfile.ZIP_STORED, 0), ("train.csv", b"2", zipfile.ZIP_STORED, 0)),
     "train.csv: appears twice in the archive"),
    (lambda: zip_with(("../evil.csv", b"1", zipfile.ZIP_STORED, 0)), "../evil.csv: points outside the folder"),
], ids=["not-a-zip", "deflate64", "encrypted", "clash", "zip-slip"])
def test_hostile_competition_zips(tmp_path, body, message):
    """A competition zip that cannot be unpacked safely should be refused in one line before a byte is written."""
    with FakeKaggle(body=body() if callable(body) else body):
        p = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path, **LEGACY))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert message in p.stderr
    assert not (tmp_path / "data/kaggle/titanic").exists() and not (tmp_path / "evil.csv").exists()
    assert not list((tmp_path / "data/kaggle").glob(".titanic.part/files*"))


@pytest.mark.parametrize("mode", ["hang", "drip"])
def test_a_stalled_kaggle_download_stops_in_one_line(tmp_path, mode):
    """An API that accepts and never answers, or drips the zip, should be stopped after --stall seconds with a
    line saying how to resume — not waited on for ever."""
    with FakeKaggle(mode=mode):
        p = run_inv("data.kaggle", "--comp", "titanic", "--stall", "2", home=tmp_path,
                    env=kaggle_env(tmp_path, **LEGACY), timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "Kaggle sent nothing for 2 s" in p.stderr and "resumes where it stopped" in p.stderr
    assert not (tmp_path / "data/kaggle/titanic").exists()


def test_unpacking_past_the_free_space_is_refused(tmp_path):
    """A zip that would not fit on the disk should be refused before unpacking (a real small file system, as root)."""
    import subprocess

    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(tmp_path)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small file system needs root")
    try:
        big = zip_with(("train.csv", b"0" * 8 * 1024**2, zipfile.ZIP_DEFLATED, 0))  # 8 MB unpacked, 8 KB zipped
        with FakeKaggle(body=big):
            p = run_inv("data.kaggle", "--comp", "titanic", home=tmp_path, env=kaggle_env(tmp_path, **LEGACY))
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
        assert "unpacking needs 8.0 MB" in p.stderr and not (tmp_path / "data/kaggle/titanic").exists()
    finally:
        subprocess.run(["umount", str(tmp_path)], capture_output=True)


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["data.kaggle", "--comp", "Titanic Comp"], {}, "is not a competition name", None),
    (["data.kaggle", "--comp", "titanic", "--stall", "0"], {}, "--stall 0 is out of range", None),
    (["data.kaggle", "--comp", "titanic"], {"HOME": "nohome", "KAGGLE_USERNAME": None, "KAGGLE_KEY": None,
                                            "KAGGLE_API_TOKEN": None, "KAGGLE_CONFIG_DIR": None},
     "no Kaggle credentials found", "data/kaggle"),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_kaggle(tmp_path, args, env, message, owns):
    """inv data.kaggle with a bad name or option, or no credentials, should end in one line."""
    env = {**env, "HOME": str(tmp_path / env["HOME"])} if "HOME" in env else env
    hostile(tmp_path, args, env, message, owns)
