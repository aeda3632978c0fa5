import os
import subprocess
import tempfile

d = tempfile.mkdtemp()
with open(os.path.join(d, "words"), "w") as f:
    f.write("pear\napple\nfig\napple\nkiwi\n")
print(subprocess.run(["sort", "-u", "words"], cwd=d, capture_output=True, text=True).stdout)
print(subprocess.check_output("cat words | wc -l", shell=True, cwd=d).strip())
p = subprocess.run(["tr", "a-z", "A-Z"], input="hello\n", capture_output=True, text=True)
print(p.returncode, p.stdout)
print(subprocess.run(["false"]).returncode)
r = subprocess.run(["ls", "/no/such/dir"], capture_output=True, text=True)
print(r.returncode != 0, "No such file" in r.stderr)
with subprocess.Popen(["seq", "1", "5"], stdout=subprocess.PIPE) as a, \
        subprocess.Popen(["paste", "-sd+"], stdin=a.stdout, stdout=subprocess.PIPE) as b:
    a.stdout.close()
    expr = b.communicate()[0].decode().strip()
print(expr, subprocess.check_output(["expr", "2", "+", "3"]).decode().strip())
print(subprocess.check_output(["sh", "-c", "echo $((6 * 7))"]).decode().strip())
print(subprocess.check_output(["date", "-u", "-d", "@86400", "+%F"]).decode().strip())
