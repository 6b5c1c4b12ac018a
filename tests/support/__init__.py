"""Shared helpers of rdpgate's Python test suites (Python 3 standard library only).

The suites find it on PYTHONPATH: every Python test in ctest runs with PYTHONPATH set to tests/
(see each folder's CMakeLists.txt); by hand, from the project root:

    PYTHONPATH=tests RDPGATE_BIN=build/gateway/rdpgate python3 tests/access/jit_test.py

and a suite file imports what it needs (`from support import gateway, rdp`).

Modules:
- env: the project root, the rdpgate binary (RDPGATE_BIN, the only variable that names it),
  the captured vectors (RDPGATE_VECTORS_DIR, else ../shared/vectors beside the project root);
- gateway: config() writes a complete test config; Gateway runs `rdpgate run --config FILE`,
  waits until it is ready, reads its logs (audit records, events), scrapes /metrics, calls the
  admin API, reloads on SIGHUP and stops by pid with a deadline;
- backend: FakeBackend, a fake RDP host answering the Connection Request with a Confirm, then
  echoing, or playing a refused NLA logon, or staying mute;
- rdp: the first bytes of RDP (Connection Request, Preconnection PDU, Connection Confirm, PROXY
  headers), checked byte for byte against the captured vectors;
- metrics: the Prometheus text format parser;
- net: free_port() (bind port 0), wait_port(), exact reads; wait: wait_until(), poll();
- procs: child processes in their own session, stopped by pid (also at interpreter exit);
- peers: real RDP programs (Xvfb, freerdp-shadow-cli, xrdp, xfreerdp) and a recording relay;
- portal: the self-service portal from the test side: TOTP codes from an otpauth URI, `rdpgate
  user add`, an HTTPS client with cookies that submits the pages' CSRF tokens;
- checks: exit statuses for ctest (0, 1, 77 skipped), the unittest and named-check runners;
- dupcheck: the check that no run of lines is copied between the suites' Python files.
"""
