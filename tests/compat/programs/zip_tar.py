import io
import os
import tarfile
import tempfile
import zipfile

d = tempfile.mkdtemp()
src = os.path.join(d, "src")
os.makedirs(os.path.join(src, "sub"))
for i, name in enumerate(["a.txt", "b.txt", "sub/c.txt"]):
    with open(os.path.join(src, name), "w") as f:
        f.write(("line %d\n" % i) * (i + 1) * 100)
zp = os.path.join(d, "x.zip")
with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as z:
    for root, _, files in sorted(os.walk(src)):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            z.write(p, os.path.relpath(p, src))
with zipfile.ZipFile(zp) as z:
    print(sorted((i.filename, i.file_size) for i in z.infolist()), z.testzip())
    print(z.read("sub/c.txt")[:14])
for mode in ("w:gz", "w:bz2", "w:xz"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        t.add(src, arcname="src")
    buf.seek(0)
    with tarfile.open(fileobj=buf) as t:
        print(mode, sorted(m.name for m in t.getmembers()))
out = os.path.join(d, "out")
with zipfile.ZipFile(zp) as z:
    z.extractall(out)
print(sorted(os.listdir(out)), open(os.path.join(out, "a.txt")).read(7))
