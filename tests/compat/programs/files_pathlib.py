import glob
import os
import shutil
import tempfile
from pathlib import Path

base = Path(tempfile.mkdtemp())
for rel in ["a/b/c.txt", "a/d.log", "e.txt"]:
    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(rel.upper())
print(sorted(str(p.relative_to(base)) for p in base.rglob("*.txt")))
print(sorted(os.path.relpath(p, base) for p in glob.glob(str(base / "**"), recursive=True)))
shutil.copytree(base / "a", base / "copy")
shutil.move(str(base / "e.txt"), str(base / "copy" / "e2.txt"))
print(sorted(x.name for x in (base / "copy").iterdir()))
print((base / "copy" / "b" / "c.txt").read_text(), (base / "a" / "d.log").stat().st_size)
shutil.make_archive(str(base / "arch"), "gztar", base / "copy")
print((base / "arch.tar.gz").exists(), shutil.disk_usage(base).total > 0)
shutil.rmtree(base / "a")
print(sorted(os.listdir(base)))
os.chmod(base / "copy" / "e2.txt", 0o600)
print(oct((base / "copy" / "e2.txt").stat().st_mode & 0o777))
