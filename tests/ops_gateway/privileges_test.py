"""Privilege drop after binding (SPEC §6; config `user`, `group`, `allow_root`).

Needs root (skipped otherwise). Uses the system user `rdpgate-test`, created with
`useradd --system --no-create-home` when it does not exist.
- `user: rdpgate-test` with a listener on a privileged port (below 1024, found free by probing):
  the port is bound, then every thread of the process runs with the user's uid and gid (real,
  effective, saved, filesystem), no supplementary groups and no effective capabilities, and the
  listener still accepts and relays.
- As root without `user` and without `allow_root`: exit 1 with the refusal message, before
  any port is bound or the state is opened.
- `user` naming an account that does not exist: exit 1 with a message naming it.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess

from harness import Suite, base_config, check, skip, try_rdp
from support.gateway import Gateway
from support.net import LOOPBACK, free_port
from support.tls import RELAYED

TEST_USER = "rdpgate-test"


def privileged_port() -> int:
    for port in range(1023, 900, -1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
                return port
            except OSError:
                continue
    skip("no free port between 901 and 1023 on 127.0.0.1")
    return 0


def ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        skip("useradd not found: cannot create the test user")
    done = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                           TEST_USER], capture_output=True, text=True, timeout=30)
    if done.returncode not in (0, 9):  # 9: the user already exists (a concurrent run)
        skip(f"useradd failed ({done.returncode}): {done.stderr.strip()}")
    return pwd.getpwnam(TEST_USER)


def config(state: str, backend: str, port: int, user_line: str, allow_root: bool) -> str:
    listeners = f'  - {{name: main, address: "{LOOPBACK}:{port}", route: pool}}\n'
    routes = f'  - {{name: pool, backends: ["{backend}"]}}\n'
    return user_line + base_config(state, listeners, routes, admin=False, metrics=False,
                                   allow_root=allow_root)


def status_fields(path: str) -> dict[str, str]:
    fields = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def drop_to_user(suite: Suite) -> None:
    if os.geteuid() != 0:
        skip("not running as root: privilege drop cannot be tested")
    account = ensure_user()
    uid, gid = account.pw_uid, account.pw_gid
    backend = suite.backend()
    port = privileged_port()
    wd = suite.workdir("privileges")
    state = os.path.join(wd, "state")
    # The state directory belongs to the service user, as a package or systemd would arrange.
    os.chmod(wd, 0o755)
    os.chown(state, uid, gid)
    g = suite.gateway(wd, config(state, backend.address, port, f"user: {TEST_USER}\n",
                                 allow_root=False)).start()
    check(g.port("main") == port, f"listening on {g.port('main')}, want {port}")

    tasks = glob.glob(f"/proc/{g.pid}/task/*/status")
    check(len(tasks) >= 2, f"expected several threads, found {len(tasks)}")
    for path in tasks:
        st = status_fields(path)
        check(st["Uid"].split() == [str(uid)] * 4, f"{path}: Uid {st['Uid']}, want {uid} x4")
        check(st["Gid"].split() == [str(gid)] * 4, f"{path}: Gid {st['Gid']}, want {gid} x4")
        check(st.get("Groups", "").split() in ([], [str(gid)]),
              f"{path}: supplementary groups {st.get('Groups')}")
        check(int(st["CapEff"], 16) == 0, f"{path}: effective capabilities {st['CapEff']}")
    print(f"pid {g.pid}, {len(tasks)} threads: uid {uid} gid {gid}, port {port}")

    outcome, local_port = try_rdp(port, user="dropped")
    check(outcome == "ok", f"the privileged listener does not relay after the drop: {outcome}")
    check(g.audit_record(local_port)["outcome"] == RELAYED, "audit record after the drop")


def run_and_expect_exit_1(suite: Suite, name: str, user_line: str, message: str,
                          before_start: bool = False) -> None:
    backend = suite.backend()
    wd = suite.workdir(name)
    port = free_port()
    g = Gateway(config(os.path.join(wd, "state"), backend.address, port, user_line,
                       allow_root=False), wd, binary=suite.binary)
    suite.defer(g.stop)
    g.start(wait_ready=False)
    rc = g.wait_exit(15)
    stderr = "\n".join(g.stderr_lines)
    check(rc == 1, f"exit code {rc}, want 1; stderr:\n{stderr}")
    check(message in stderr, f"stderr lacks {message!r}:\n{stderr}")
    check(not g.find_events(lambda e: e.get("event") == "started"), "it reported started")
    check(not g.stdout_lines or not any(l.startswith("listening") for l in g.stdout_lines),
          f"it announced a listener: {g.stdout_lines}")
    check(try_rdp(port)[0] == "refused", "the port still accepts after the refusal")
    if before_start:
        # Refused before anything was bound or opened: the state directory is untouched.
        state = os.listdir(os.path.join(wd, "state"))
        check(state == [], f"the refused start opened the state: {state}")


def refuse_root(suite: Suite) -> None:
    if os.geteuid() != 0:
        skip("not running as root: the root refusal cannot be tested")
    run_and_expect_exit_1(suite, "root-refused", "", "refusing to run as root", before_start=True)


def unknown_user(suite: Suite) -> None:
    if os.geteuid() != 0:
        skip("not running as root")
    run_and_expect_exit_1(suite, "unknown-user", "user: rdpgate-no-such-user-42\n",
                          'user "rdpgate-no-such-user-42": no such user')


if __name__ == "__main__":
    Suite().run([
        ("drop_to_user", drop_to_user),
        ("refuse_root", refuse_root),
        ("unknown_user", unknown_user),
    ])
