# The Python guest agent: the first thing that runs inside the jail.
# Kept tiny because scripts are never byte-compiled; the work is in brig._agent.
import sys

sys.path.insert(0, __file__.rpartition("/")[0])
from brig import _agent  # noqa: E402

_agent.main()
