"""A stand-in for `plue runner` for the pool tests (no tests here)."""

# Registers as `plue runner` would (name, labels, pool from its arguments; the token's name as the server
# records it), writes its pid, deregisters on SIGTERM.
FAKE_RUNNER = r"""
import argparse, os, signal, sys, threading
from plue.store import Store
parser = argparse.ArgumentParser()
parser.add_argument("command")
for option in ("--server", "--name", "--pool", "--labels", "--work-dir"):
    parser.add_argument(option)
args = parser.parse_args()
assert os.environ["PLUE_TOKEN"].startswith("plue_")
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
store = Store.open(url=os.environ["DB_URL"])
labels = args.labels.split(",") if args.labels else []
record = store.register_runner(
    args.name, labels, "test", {"hostname": "here"}, 1, pool=args.pool, token_name="runner:" + args.name
)
with open(os.path.join(os.environ["PIDS"], args.name), "w") as handle:
    handle.write(str(os.getpid()))
stop.wait()
store.deregister_runner(record.id)
store.close()
"""
