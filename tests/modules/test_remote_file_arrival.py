"""A write replaces the destination only with exactly the bytes that were sent.

When an SSH session dies mid-transfer the remote shell is not signalled: `cat` sees end of input
and succeeds. Before the arrival check, the truncated temp file was then renamed over the old
file (40 MB files were left at 1-2 MB). These tests send less than announced, as a cut session
does, over a real connection.
"""
import pytest

from provision.modules.remote_file import sha1, write_command, write_file
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox

NEW = b"new content line\n" * 4096  # 68 KiB: more than one SSH window packet


def test_a_cut_transfer_leaves_the_old_file_and_no_temp_file(remote, module_context):
    dest = remote.put("big.bin", "old\n", mode="0640")
    before = remote.look(dest)
    context = module_context()

    result = context.run(write_command(dest, size=len(NEW), checksum=sha1(NEW)), stdin=NEW[: len(NEW) // 3])

    assert result.rc == 1
    assert f"only {len(NEW) // 3} of {len(NEW)} bytes arrived (connection cut?): the file was not changed" in result.stderr
    after = remote.look(dest)
    assert (after.content, after.inode, after.mode) == (b"old\n", before.inode, "0640")
    assert remote.listing() == ["big.bin"]


def test_same_size_but_other_bytes_is_refused_too(remote, module_context):
    dest = remote.put("conf", "old\n")
    corrupted = b"X" + NEW[1:]

    result = module_context().run(write_command(dest, size=len(NEW), checksum=sha1(NEW)), stdin=corrupted)

    assert result.rc == 1 and "the content arrived corrupted (sha1 differs)" in result.stderr
    assert remote.look(dest).content == b"old\n"
    assert remote.listing() == ["conf"]


def test_a_whole_transfer_is_written(remote, module_context):
    dest = remote.path("whole.bin")
    data = write_file(module_context(), dest, NEW)
    assert remote.look(dest).content == NEW
    assert data["checksum"] == sha1(NEW) and data["size"] == len(NEW)


def test_temp_files_a_killed_shell_left_are_cleaned_by_the_next_write(remote, module_context):
    """A shell killed outright (SIGKILL, host power loss) cannot run its EXIT trap: the next write
    into that folder removes temp files older than an hour, and leaves younger ones (a write in flight)."""
    remote.put(".provision-Ab12Cd", "stale half\n")
    remote.sh(f"touch -d '2 hours ago' {remote.path('.provision-Ab12Cd')}")
    remote.put(".provision-Xy34Zw", "in flight\n")
    remote.put("keep.provision-old", "not ours\n")
    remote.sh(f"touch -d '2 hours ago' {remote.path('keep.provision-old')}")

    write_file(module_context(), remote.path("app.conf"), b"new\n")

    assert remote.listing() == [".provision-Xy34Zw", "app.conf", "keep.provision-old"]
