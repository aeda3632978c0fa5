"""MemoryFS and VirtualFileSystem, on the host alone."""
import pytest

from brig import DirEntry, FileStat, MemoryFS, VirtualFileSystem


def test_memoryfs():
    fs = MemoryFS({"a/b.txt": "hi", "c.bin": b"\x00"})
    assert fs.read_file("a/b.txt") == b"hi" and fs.read_file("/c.bin") == b"\x00"
    assert fs.exists("a") and fs.exists("a/b.txt") and not fs.exists("z")
    assert fs.stat("a/b.txt") == FileStat("file", 2) and fs.stat("a") == FileStat("dir", 1)
    assert fs.readdir("") == [DirEntry("a", "dir"), DirEntry("c.bin", "file")]
    fs.write_file("a/d/e", b"x")
    assert DirEntry("d", "dir") in fs.readdir("a")
    with pytest.raises(FileNotFoundError):
        fs.read_file("nope")
    with pytest.raises(FileNotFoundError):
        fs.stat("nope")
    with pytest.raises(FileNotFoundError):
        fs.readdir("nope")


def test_virtual_filesystem_defaults():
    vfs = VirtualFileSystem()
    with pytest.raises(PermissionError):
        vfs.write_file("x", b"")
    for call in (lambda: vfs.read_file("x"), lambda: vfs.exists("x"), lambda: vfs.stat("x"),
                 lambda: vfs.readdir("")):
        with pytest.raises(NotImplementedError):
            call()
