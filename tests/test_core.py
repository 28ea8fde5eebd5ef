"""The core every stage uses: errors and the boundary, paths and containment, file I/O, images, credentials."""

import os

import pytest

from fastcourse.fileio import atomic_write_text


def test_checkout_found_without_assuming_an_editable_install(monkeypatch, tmp_path):
    """FASTCOURSE_CHECKOUT names the checkout; without it, a plain install (no pyproject above) finds none."""
    from fastcourse import paths

    monkeypatch.setenv("FASTCOURSE_CHECKOUT", str(tmp_path))
    assert paths._find_checkout() == tmp_path.resolve()
    monkeypatch.delenv("FASTCOURSE_CHECKOUT")
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "site-packages/fastcourse/paths.py"))
    assert paths._find_checkout() is None


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, mask, mode):
    """A file written atomically should get 0666 less the umask, like a plain open(), not mkstemp's 0600."""
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_inside_guard_refuses_paths_outside_owner(tmp_path):
    """remove_tree should refuse a target outside its owner, or the owner itself, and remove one inside."""
    from fastcourse.errors import UserError
    from fastcourse.paths import remove_tree

    owner = tmp_path / "build/space"
    (owner / "ok").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    for target in (owner / "../../data", owner, owner / ".."):
        with pytest.raises(UserError, match="not inside"):
            remove_tree(target, owner)
    assert (tmp_path / "data").exists()
    remove_tree(owner / "ok", owner)
    assert not (owner / "ok").exists()
