"""Error messages of host functions reach the guest whatever their bytes.

A --host-fn command's stderr becomes the guest's RuntimeError message.  It
may hold any bytes, and host-call messages are cut to fit a buffer, possibly
in the middle of a character: the guest must still get the RuntimeError (with
the non-UTF-8 bytes replaced), never "MemoryError: host could not encode the
reply".
"""
import pytest

from helpers import guest_json

GUEST = r'''
import json
try:
    call("f")
    print(json.dumps(["returned"]))
except Exception as e:
    print(json.dumps([type(e).__name__, str(e)]))
'''


@pytest.mark.parametrize("stderr", [
    r"printf 'bad \377\376 bytes \303' >&2",
    # 600 two-byte characters: the 512-byte message ends mid-character.
    r"i=0; while [ $i -lt 600 ]; do printf '\303\251' >&2; i=$((i+1)); done",
], ids=["invalid-bytes", "cut-mid-character"])
def test_non_utf8_error_message_reaches_the_guest(stderr):
    kind, message = guest_json(GUEST, "--host-fn", "f=%s; exit 1" % stderr)
    assert kind == "RuntimeError", message
    assert "could not encode" not in message
    if "bad" in stderr:
        assert message.startswith("bad ") and message.endswith(" bytes ?")
    else:
        assert message.startswith("\u00e9" * 10) and len(message.encode()) <= 512
