"""The shell guest: /bin/sh with the host's coreutils, read-only."""
import pytest

from helpers import run, run_ok


def test_pipes():
    res = run_ok("printf 'pear\\napple\\nfig\\napple\\n' | sort | uniq -c | sort -rn | head -n 1 "
                 "| awk '{print $2, $1}'", "sh")
    assert res["stdout"] == "apple 2\n"


def test_redirect_into_tmp():
    res = run_ok("echo first > /tmp/f && echo second >> /tmp/f && wc -l < /tmp/f && cat /tmp/f",
                 "sh")
    assert res["stdout"] == "2\nfirst\nsecond\n"


def test_redirect_into_the_work_directory():
    res = run_ok("pwd; echo data > notes.txt; cat /home/user/notes.txt; ls ~", "sh")
    # outputs/: the outputs directory, whose files come back as artifacts.
    assert res["stdout"] == "/home/user\ndata\nnotes.txt\noutputs\n"


def test_stderr_redirection():
    res = run_ok("ls /no/such/dir 2> /tmp/err; echo \"rc=$?\"; grep -c 'No such file' /tmp/err",
                 "sh")
    assert res["stdout"] == "rc=2\n1\n"
    assert res["stderr"] == ""


@pytest.mark.parametrize("code,status", [
    ("exit 0", 0), ("exit 3", 3), ("false", 1), ("true", 0), ("exit 255", 255),
    ("no-such-command-here", 127), ("sh -c 'exit 9'", 9), ("(exit 4)", 4),
])
def test_exit_codes(code, status):
    res, rc = run(code, "sh")
    assert res["exit_code"] == status and rc == status
    assert res["ok"] is True


def test_command_not_found_message():
    res, _ = run("no-such-command-here", "sh")
    assert "not found" in res["stderr"]


@pytest.mark.parametrize("cmd,expected", [
    ("ls -1 /usr | grep -x bin", "bin\n"),
    ("printf 'b\\na\\n' | sort", "a\nb\n"),
    ("printf 'one two\\nthree\\n' | wc -w", "3\n"),
    ("seq 1 100 | head -n 3 | tail -n 1", "3\n"),
    ("echo hello | sed 's/l/L/g'", "heLLo\n"),
    ("echo 'a:b:c' | awk -F: '{print $3 $1}'", "ca\n"),
    ("printf 'x\\ny\\nx\\n' | grep -c x", "2\n"),
    ("echo abc | tr a-c A-C | cut -c2-", "BC\n"),
    ("basename /a/b/c.txt .txt", "c\n"),
    ("echo 3 | xargs expr 5 +", "8\n"),
])
def test_coreutils_on_path(cmd, expected):
    res = run_ok(cmd, "sh")
    assert res["stdout"] == expected


@pytest.mark.parametrize("tool", ["ls", "sort", "wc", "head", "sed", "awk", "grep", "cat",
                                  "tr", "cut", "find", "env"])
def test_tools_resolve_through_path(tool):
    res = run_ok("command -v %s" % tool, "sh")
    assert res["stdout"].strip() in ("/usr/local/bin/" + tool, "/usr/bin/" + tool,
                                     "/bin/" + tool)


def test_user_identity():
    res = run_ok("id -un; id -u; id -g; whoami; echo \"$USER $HOME\"", "sh")
    assert res["stdout"] == "user\n1000\n1000\nuser\nuser /home/user\n"


def test_hostname_is_brig():
    res = run_ok("uname -n; hostname 2>/dev/null || cat /etc/hostname", "sh")
    assert res["stdout"] == "brig\nbrig\n"


def test_path_and_shell_features():
    res = run_ok("echo \"$PATH\" | tr : '\\n' | grep -cx /usr/bin; "
                 "n=0; for i in 1 2 3; do n=$((n + i)); done; echo $n; "
                 "x=$(echo nested | tr n N); echo $x", "sh")
    assert res["stdout"] == "1\n6\nNested\n"


def test_background_jobs_and_wait():
    res = run_ok("(sleep 0.1; echo late) & echo early; wait; echo done", "sh")
    assert res["stdout"] == "early\nlate\ndone\n"


def test_find_and_tar_roundtrip_in_tmp():
    res = run_ok("mkdir -p /tmp/a/b && echo hi > /tmp/a/b/f && cd /tmp && tar cf t.tar a && "
                 "rm -r a && tar xf t.tar && cat a/b/f && find a -type f", "sh")
    assert res["stdout"] == "hi\na/b/f\n"


def test_sigpipe_has_its_default_disposition():
    # brig ignores SIGPIPE itself; the guest must not inherit that, or every
    # `producer | head` pipeline would report broken pipes.
    res = run_ok("yes | head -n 1; grep SigIgn /proc/self/status", "sh")
    assert res["stdout"].splitlines()[0] == "y"
    assert res["stderr"] == ""
    ignored = int(res["stdout"].split()[-1], 16)
    assert not ignored & (1 << (13 - 1)), res["stdout"]
