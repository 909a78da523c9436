"""onebyone.atomic: the target is replaced whole or not at all, and no temporary is left."""

from __future__ import annotations

import pytest

from onebyone import atomic


def test_writes_the_text_and_leaves_no_temporary(tmp_path):
    target = atomic.write_text_atomically(tmp_path / "r.csv", "a,b\n1,2\n")
    assert target.read_text(encoding="utf-8") == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "r.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic.open_atomically(target) as file:
        file.write("new, half written")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_text_is_utf8_whatever_the_locale(tmp_path):
    target = atomic.write_text_atomically(tmp_path / "r.csv", "größe,µs\n")
    assert target.read_bytes() == "größe,µs\n".encode()


def test_refuses_bytes(tmp_path):
    with pytest.raises(TypeError, match="text"):
        atomic.write_text_atomically(tmp_path / "r.csv", b"a")


def test_a_new_file_gets_the_usual_permissions_and_an_old_one_keeps_its_own(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        new = atomic.write_text_atomically(tmp_path / "new.csv", "a\n")
        assert new.stat().st_mode & 0o777 == 0o644
        old = tmp_path / "old.csv"
        old.write_text("x\n")
        old.chmod(0o640)
        atomic.write_text_atomically(old, "y\n")
        assert old.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
