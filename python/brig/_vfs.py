"""Host-provided file trees for Sandbox mounts (codepod's names):
VirtualFileSystem, MemoryFS, FileStat, DirEntry."""
from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Tuple, Union

__all__ = ["FileStat", "DirEntry", "VirtualFileSystem", "MemoryFS", "walk_files"]


@dataclass(frozen=True)
class FileStat:
    """What VirtualFileSystem.stat returns: type ("file" or "dir") and size."""

    type: str
    size: int = 0


@dataclass(frozen=True)
class DirEntry:
    """One entry of VirtualFileSystem.readdir: name and type ("file"/"dir")."""

    name: str
    type: str


class VirtualFileSystem:
    """Subclass to provide files from anywhere (disk, database, HTTP).  Paths
    are relative to the mount ("" is its root).  A Sandbox walks the tree and
    copies it in when it mounts it; later changes are not seen."""

    def read_file(self, path: str) -> bytes:
        """The file's content; FileNotFoundError when missing."""
        raise NotImplementedError

    def write_file(self, path: str, data: bytes) -> None:
        """Write a file; PermissionError when read-only."""
        raise PermissionError("read-only file system")

    def exists(self, path: str) -> bool:
        """Whether path exists."""
        raise NotImplementedError

    def stat(self, path: str) -> FileStat:
        """Type and size of path."""
        raise NotImplementedError

    def readdir(self, path: str) -> List[DirEntry]:
        """The entries of directory path."""
        raise NotImplementedError


FileData = Union[bytes, bytearray, str]


class MemoryFS(VirtualFileSystem):
    """A VirtualFileSystem over a flat dict {"dir/file.py": bytes or str}."""

    def __init__(self, files: Mapping[str, FileData] = ()) -> None:
        self.files: Dict[str, bytes] = {}
        for path, data in dict(files).items():
            self.write_file(path, data if not isinstance(data, str) else data.encode())

    @staticmethod
    def _norm(path: str) -> str:
        return posixpath.normpath("/" + path).lstrip("/")

    def read_file(self, path: str) -> bytes:
        """The file's bytes; FileNotFoundError when missing."""
        try:
            return self.files[self._norm(path)]
        except KeyError:
            raise FileNotFoundError(path) from None

    def write_file(self, path: str, data: bytes) -> None:
        """Create or replace a file (its directories exist implicitly)."""
        self.files[self._norm(path)] = bytes(data)

    def _dirs(self) -> set:
        dirs = {""}
        for p in self.files:
            d = posixpath.dirname(p)
            while d and d not in dirs:
                dirs.add(d)
                d = posixpath.dirname(d)
        return dirs

    def exists(self, path: str) -> bool:
        """Whether path is a file or a directory of the tree."""
        p = self._norm(path)
        return p in self.files or p in self._dirs()

    def stat(self, path: str) -> FileStat:
        """A file's size, or a directory's number of entries."""
        p = self._norm(path)
        if p in self.files:
            return FileStat("file", len(self.files[p]))
        if p in self._dirs():
            return FileStat("dir", len(self.readdir(p)))
        raise FileNotFoundError(path)

    def readdir(self, path: str) -> List[DirEntry]:
        """The entries of directory path, sorted by name."""
        p = self._norm(path)
        if p not in self._dirs():
            raise FileNotFoundError(path)
        prefix = p + "/" if p else ""
        seen: Dict[str, str] = {}
        for f in self.files:
            if f.startswith(prefix):
                rest = f[len(prefix):]
                name, sep, _ = rest.partition("/")
                seen[name] = "dir" if sep else seen.get(name, "file")
        return [DirEntry(n, t) for n, t in sorted(seen.items())]


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError("invalid file name in a mounted tree: %r" % (name,))


def walk_files(src: Union[Mapping[str, FileData], VirtualFileSystem]
               ) -> Iterator[Tuple[str, Union[bytes, None]]]:
    """(relative path, bytes) for each file and (relative path, None) for
    each directory of a mount source, parents first."""
    if not isinstance(src, VirtualFileSystem):
        src = MemoryFS(src)
    stack = [""]
    while stack:
        d = stack.pop()
        for e in src.readdir(d):
            _check_name(e.name)
            p = posixpath.join(d, e.name) if d else e.name
            if e.type == "dir":
                yield p, None
                stack.append(p)
            else:
                data = src.read_file(p)
                yield p, data.encode() if isinstance(data, str) else bytes(data)
