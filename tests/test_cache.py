"""hf_cser.cache.write_atomically: readers see the old file or the whole new one, a failed write leaves the old file
and no temporary file, and the new file gets the permissions `open()` would give it (the umask's), not mkstemp's 0600
(a results file other users of a shared machine could not read)."""

import os
import stat

import pytest

from hf_cser.cache import write_atomically


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_has_the_permissions_of_the_umask(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        write_atomically(tmp_path / "sub" / "result.json", lambda tmp: open(tmp, "w").write("{}"))
        with open(tmp_path / "plain.json", "w") as handle:  # what open() gives under the same umask
            handle.write("{}")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(os.stat(tmp_path / "sub" / "result.json").st_mode)
    assert mode == expected == stat.S_IMODE(os.stat(tmp_path / "plain.json").st_mode)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")

    def crash(tmp):
        with open(tmp, "w") as handle:
            handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, crash)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
    write_atomically(path, lambda tmp: open(tmp, "w").write("new"))
    assert path.read_text() == "new"


def test_the_umask_is_read_without_changing_it(monkeypatch):
    """Reading the mask must not set it to 0 even for a moment (another thread's files would get mode 0666)."""
    from hf_cser import cache

    previous = os.umask(0o027)
    try:
        calls = []
        real = os.umask
        monkeypatch.setattr(cache.os, "umask", lambda mask: calls.append(mask) or real(mask))
        assert cache._umask() == 0o027 and calls == []  # read from /proc/self/status on Linux
    finally:
        os.umask(previous)
