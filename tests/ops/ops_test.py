#!/usr/bin/env python3
"""Checks of rdpgate's deployable artefacts (deploy/) with the real tools that consume them.

Usage: ops_test.py CHECK      (see CHECKS at the bottom; `ops_test.py list` prints them)

Environment (ctest sets all of it):
  PYTHONPATH           must include tests/, for the shared helpers in tests/support
  RDPGATE_SOURCE_DIR   project root (default: two folders above this file)
  RDPGATE_BIN          the built rdpgate binary; checks that run it skip when it is absent
  RDPGATE_VECTORS_DIR  captured RDP bytes (default: ../shared/vectors beside the project root)

Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE), with the reason on stdout.
Only the Python standard library is required; Kubernetes checks also need PyYAML
(Debian: python3-yaml) and skip without it.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support import checks, env, metrics
from support.backend import FakeBackend
from support.checks import Fail, Skip, need_rdpgate, need_tool
from support.gateway import Gateway, config
from support.net import free_port

ROOT = env.SOURCE_DIR
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rdpgate-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "rdpgate-dashboard.json"
UNIT = DEPLOY / "systemd" / "rdpgate.service"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
K8S = DEPLOY / "kubernetes"
LOGROTATE = DEPLOY / "logrotate" / "rdpgate"

# The metric names rdpgate exports (SPEC §8 and the gateway's metric list), with the labels
# dashboards and rules may rely on. Histograms also have _bucket{le}, _sum and _count series.
KNOWN_METRICS = {
    "rdpgate_connections_total": {"listener", "outcome"},
    "rdpgate_refusals_total": {"listener", "phase", "reason"},
    "rdpgate_sessions_active": {"listener"},
    "rdpgate_route_sessions_active": {"route"},
    "rdpgate_relay_bytes_total": {"direction"},
    "rdpgate_handshake_duration_seconds": {"listener"},
    "rdpgate_backend_connect_duration_seconds": {"route"},
    "rdpgate_requested_protocols_total": {"protocol"},
    "rdpgate_selected_protocol_total": {"protocol"},
    "rdpgate_backend_up": {"route", "backend"},
    "rdpgate_backend_connections_active": {"route", "backend"},
    "rdpgate_backend_connect_failures_total": {"route", "backend"},
    "rdpgate_inspection_bytes_total": {"listener"},
    "rdpgate_bans_active": set(),
    "rdpgate_bans_total": {"origin"},
    "rdpgate_grants_active": set(),
    "rdpgate_auth_failures_total": set(),
    "rdpgate_tokens_total": {"result"},
    "rdpgate_config_reloads_total": {"result"},
    "rdpgate_accept_errors_total": {"listener"},
    "rdpgate_log_suppressed_total": set(),
    "rdpgate_state_redis_up": set(),
    "rdpgate_state_redis_pending_operations": set(),
    "rdpgate_state_redis_failed_operations_total": set(),
    "rdpgate_state_redis_resyncs_total": set(),
    "rdpgate_state_redis_last_resync_timestamp_seconds": set(),
    "rdpgate_build_info": {"version"},
    "process_cpu_seconds_total": set(),
    "process_resident_memory_bytes": set(),
    "process_open_fds": set(),
    "process_start_time_seconds": set(),
    "up": set(),  # Prometheus's own per-target series
}
HISTOGRAMS = {"rdpgate_handshake_duration_seconds", "rdpgate_backend_connect_duration_seconds"}
TARGET_LABELS = {"job", "instance", "le"}  # added by Prometheus (le: histogram buckets)

# Exported only with state.redis: the live scrape below (no Redis) need not show them.
REDIS_METRICS = {m for m in KNOWN_METRICS if m.startswith("rdpgate_state_redis_")}
# The panels an operator opens first: the dashboard must query each of these.
DASHBOARD_MUST_QUERY = set(KNOWN_METRICS) - {"up"} - {
    "rdpgate_tokens_total"}  # optional panel content, still checked when present
REQUIRED_ALERTS = {
    "RdpgateDown", "RdpgateRouteAllBackendsDown", "RdpgateBackendDown", "RdpgateAuthFailureSpike",
    "RdpgateBruteforceRefusalSpike", "RdpgateBanStorm", "RdpgateConfigReloadFailed",
    "RdpgateInspectionRefusalSpike",
}

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan", "Inf", "NaN", "atan2"}


def run(cmd, **kw):
    kw.setdefault("timeout", 60)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def load_yaml_module():
    try:
        import yaml  # noqa: PLC0415
    except ImportError as e:
        raise Skip("PyYAML is not installed (Debian: python3-yaml)") from e
    return yaml


# ---- PromQL helpers ---------------------------------------------------------------------------

def promql_selectors(expr):
    """Metric names an expression reads and the label names it relies on (matchers, by/on)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and regexes
    labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"\"", e))
    for group in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", e):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*", e):
        token = m.group(0)
        if e[m.end():].lstrip().startswith("(") or token in PROMQL_WORDS:
            continue  # a function call or a keyword
        names.add(token)
    return names, labels


def base_metric(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


def check_expr_names(where, expr, allowed_extra=()):
    """Every metric in `expr` is known, and every label it uses belongs to one of them."""
    names, labels = promql_selectors(expr)
    problems = []
    metrics = set()
    for n in names:
        b = base_metric(n)
        if b in KNOWN_METRICS:
            metrics.add(b)
        elif n not in allowed_extra:
            problems.append(f"{where}: unknown metric {n!r} in: {expr}")
    usable = set(TARGET_LABELS)
    for m in metrics:
        usable |= KNOWN_METRICS[m]
    if metrics:
        for label in labels - usable:
            problems.append(f"{where}: label {label!r} is not a label of {sorted(metrics)}: {expr}")
    return metrics, problems


def promtool_parses(exprs):
    """Let promtool parse each expression (as a recording rule); returns its error text."""
    promtool = need_tool("promtool")
    rules = {"groups": [{"name": "parse", "rules": [
        {"record": f"parse:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exprs.yml"
        path.write_text(json.dumps(rules))  # JSON is YAML
        r = run([promtool, "check", "rules", str(path)])
        return "" if r.returncode == 0 else r.stdout + r.stderr


# ---- Prometheus -------------------------------------------------------------------------------

def rules_documents():
    """Every rule (alert or record) of the rules file."""
    yaml = load_yaml_module()
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        yield from group["rules"]


def check_promtool_rules():
    promtool = need_tool("promtool")
    r = run([promtool, "check", "rules", str(RULES)])
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        raise Fail("promtool check rules failed")
    rules = list(rules_documents())
    recorded = {r["record"] for r in rules if "record" in r}
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    problems = []
    missing = REQUIRED_ALERTS - set(alerts)
    if missing:
        problems.append(f"alerts missing: {sorted(missing)}")
    for name, rule in alerts.items():
        if rule.get("labels", {}).get("severity") not in {"critical", "warning", "info"}:
            problems.append(f"{name}: severity must be critical, warning or info")
        for key in ("summary", "description"):
            if not rule.get("annotations", {}).get(key, "").strip():
                problems.append(f"{name}: annotation {key!r} missing")
        if "for" not in rule:
            problems.append(f"{name}: no `for:` (say `for: 0m` when it is meant to fire at once)")
    for rule in rules:
        where = rule.get("alert") or rule.get("record")
        problems += check_expr_names(where, str(rule["expr"]), allowed_extra=recorded)[1]
    if 'up{job="rdpgate"} == 0' not in str(alerts.get("RdpgateDown", {}).get("expr", "")):
        problems.append('RdpgateDown must select up{job="rdpgate"} == 0')
    if problems:
        raise Fail("\n".join(problems))
    print(f"{len(alerts)} alerts, {len(recorded)} recording rules; every metric and label known")


def check_promtool_config():
    promtool = need_tool("promtool")
    configs = sorted((DEPLOY / "prometheus").glob("prometheus*.yml"))
    if len(configs) < 2:
        raise Fail(f"expected prometheus.yml and a multi-instance example, found {configs}")
    for config in configs:
        r = run([promtool, "check", "config", str(config)])
        print(r.stdout + r.stderr)
        if r.returncode != 0:
            raise Fail(f"promtool check config {config.name} failed")
        text = config.read_text()
        if "job_name: rdpgate" not in text:
            raise Fail(f"{config.name}: the alert rules expect job_name: rdpgate")
    if "127.0.0.1:9489" not in (DEPLOY / "prometheus" / "prometheus.yml").read_text():
        raise Fail("prometheus.yml must scrape the default metrics address 127.0.0.1:9489")


# Mutations of the rules that the unit tests in rules_test.yml must catch: a rule test that
# passes against a broken rule protects nothing.
RULE_MUTANTS = [
    ('up{job="rdpgate"} == 0', 'up{job="rdpgate"} == 2'),
    ("unless on (job, instance, route)", "or on (job, instance, route)"),
    ("max by (job, instance, route) (rdpgate_backend_up) == 0\n        for: 1m",
     "min by (job, instance, route) (rdpgate_backend_up) == 0\n        for: 1m"),
    ("rate(rdpgate_auth_failures_total[5m])) * 60 > 10", "rate(rdpgate_auth_failures_total[5m])) * 60 > 40"),
    ('rdpgate_bans_total{origin="auto"}', "rdpgate_bans_total"),
    ('outcome=~"not_rdp|malformed"', 'outcome=~"not_rdp"'),
    ('result="failure"}[15m]', 'result=~".+"}[15m]'),
]


def check_promtool_test_rules():
    promtool = need_tool("promtool")
    test_file = ROOT / "tests" / "ops" / "rules_test.yml"
    r = run([promtool, "test", "rules", str(test_file)], cwd=ROOT)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        raise Fail("promtool test rules failed")
    tested = set(re.findall(r"alertname:\s*(\w+)", test_file.read_text()))
    print(f"alerts with unit tests: {sorted(tested)}")
    if len(tested & REQUIRED_ALERTS) < 3:
        raise Fail("rules_test.yml must test at least three of the required alerts")
    original = RULES.read_text()
    survivors = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "deploy" / "prometheus").mkdir(parents=True)
        (Path(tmp) / "tests" / "ops").mkdir(parents=True)
        shutil.copy(test_file, Path(tmp) / "tests" / "ops" / "rules_test.yml")
        for old, new in RULE_MUTANTS:
            if original.count(old) != 1:
                raise Fail(f"mutation anchor not found exactly once in the rules: {old!r}")
            (Path(tmp) / "deploy" / "prometheus" / "rdpgate-rules.yml").write_text(
                original.replace(old, new))
            m = run([promtool, "test", "rules", "tests/ops/rules_test.yml"], cwd=tmp)
            if m.returncode == 0:
                survivors.append(f"{old!r} -> {new!r}")
    if survivors:
        raise Fail("rules_test.yml does not notice these broken rules:\n  " + "\n  ".join(survivors))
    print(f"all {len(RULE_MUTANTS)} rule mutations caught by the unit tests")


# ---- Grafana ----------------------------------------------------------------------------------

def dashboard_queries(dash):
    """(where, expr) for every query of the dashboard: panels, annotations, variables."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel {p.get('title')!r} {t.get('refId')}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation {a.get('name')!r}", a["expr"]))
    return out


def grafana_to_promql(expr):
    """Replace Grafana's variables by values Prometheus accepts."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    expr = expr.replace("$__range", "1h")
    return re.sub(r"\$\{?[A-Za-z_]+\}?", ".*", expr)


def load_dashboard():
    try:
        return json.loads(DASHBOARD.read_text())
    except json.JSONDecodeError as e:
        raise Fail(f"{DASHBOARD.name}: not valid JSON: {e}") from e


def dashboard_metrics():
    dash = load_dashboard()
    used, problems = set(), []
    for where, expr in dashboard_queries(dash):
        metrics, p = check_expr_names(where, expr)
        used |= metrics
        problems += p
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = re.match(r"\s*label_values\(\s*(.*),\s*([A-Za-z_]+)\s*\)\s*$", query)
        if m:
            metrics, p = check_expr_names(f"variable {var.get('name')!r}", m.group(1))
            used |= metrics
            problems += p
            if metrics and m.group(2) not in TARGET_LABELS | set().union(*(KNOWN_METRICS[x] for x in metrics)):
                problems.append(f"variable {var.get('name')!r}: {m.group(2)!r} is not a label of {metrics}")
    return dash, used, problems


def check_dashboard():
    dash, used, problems = dashboard_metrics()
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("templating needs a datasource variable DS_PROMETHEUS of type prometheus")
    ids, boxes = set(), []

    def walk(panels):
        for p in panels:
            pid = p.get("id")
            if pid in ids:
                problems.append(f"duplicate panel id {pid}")
            ids.add(pid)
            g = p.get("gridPos", {})
            if not all(k in g for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
                problems.append(f"panel {p.get('title')!r}: bad gridPos {g}")
            else:
                boxes.append((p.get("title"), g))
            if p.get("type") != "row":
                if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
                    problems.append(f"panel {p.get('title')!r}: datasource must be ${{DS_PROMETHEUS}}")
                if not p.get("targets"):
                    problems.append(f"panel {p.get('title')!r}: no query")
                for t in p.get("targets", []):
                    if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
                        problems.append(f"panel {p.get('title')!r}: target datasource must be ${{DS_PROMETHEUS}}")
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            if (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                    and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]):
                problems.append(f"panels {ta!r} and {tb!r} overlap")
    missing = DASHBOARD_MUST_QUERY - used
    if missing:
        problems.append(f"dashboard never queries: {sorted(missing)}")
    titles = " ".join(p.get("title", "") for p in dash["panels"]).lower()
    for words in ("outcome", "refusals", "active sessions", "handshake", "backend connect",
                  "backend health", "bans", "failed logons", "throughput", "config reloads",
                  "cpu", "memory", "file descriptors"):
        if words not in titles:
            problems.append(f"no panel titled with {words!r}")
    quantiles = [e for _, e in dashboard_queries(dash) if "histogram_quantile" in e]
    if not any("0.99" in q for q in quantiles) or not any("0.5" in q for q in quantiles):
        problems.append("handshake/backend latency panels need p50 and p99 histogram_quantile")
    exprs = [grafana_to_promql(e) for _, e in dashboard_queries(dash)]
    err = promtool_parses(exprs)
    if err:
        problems.append("promtool cannot parse the dashboard's queries:\n" + err)
    if problems:
        raise Fail("\n".join(problems))
    print(f"{len(dashboard_queries(dash))} queries over {len(used)} metrics, all known; "
          f"{len(ids)} panels; promtool parses every query")


# ---- A running rdpgate ------------------------------------------------------------------------

def read_vector(name):
    data = env.read_vector(name)
    if data is None:
        raise Skip(f"captured vectors not found: {env.vectors_dir() / name}")
    return data


def check_dashboard_live():
    need_rdpgate()
    request = read_vector("xfreerdp-default.hex")  # offers SSL|HYBRID
    confirm = read_vector("shadow-cc-neg-rsp-hybrid.hex")  # selects HYBRID
    _, used, problems = dashboard_metrics()
    if problems:
        raise Fail("\n".join(problems))
    backend = FakeBackend(confirm=confirm)
    dead = free_port()  # nothing listens here: connect fails, the next backend is tried
    with tempfile.TemporaryDirectory() as tmp:
        token = "ops-test-" + os.urandom(8).hex()
        (Path(tmp) / "admin.token").write_text(token + "\n")
        os.chmod(Path(tmp) / "admin.token", 0o600)
        routes = f"""\
  - name: default
    backends: ["127.0.0.1:{dead}", "127.0.0.1:{backend.port}"]
    balance: first
    connect_timeout: 2s
  - name: probed
    match: {{username: "no-such-user-ops-test"}}
    backends: ["127.0.0.1:{backend.port}"]
    health_check: {{interval: 200ms, timeout: 100ms, rise: 1, fall: 1}}
"""
        text = config('  - {name: public, address: "127.0.0.1:0", route: default}\n', routes,
                      workers=None, bruteforce='{exempt: ["127.0.0.0/8"]}',
                      shutdown="{drain_timeout: 2s}",
                      admin=f'{{address: "127.0.0.1:0", token_file: "{tmp}/admin.token"}}')
        gw = Gateway(text, tmp).start()
        try:
            host, port = gw.addr("public")
            # One complete RDP handshake through the gateway.
            with socket.create_connection((host, port), timeout=10) as c:
                c.sendall(request)
                got = b""
                while len(got) < len(confirm):
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                if got[: len(confirm)] != confirm:
                    raise Fail(f"the gateway did not relay the Connection Confirm: {got.hex()}")
                c.sendall(b"\x03\x00\x00\x08\x02\xf0\x80\x00")
                c.recv(4096)
            # One scanner.
            with socket.create_connection((host, port), timeout=10) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: rdpgate\r\n\r\n")
                c.settimeout(10)
                while c.recv(4096):
                    pass
            # A manual ban and a reload.
            status, body = gw.http("POST", "/v1/bans", token=token, timeout=5,
                                   body={"cidr": "203.0.113.0/24", "duration": "1h",
                                         "reason": "ops test"})
            if status != 201:
                raise Fail(f"POST /v1/bans answered {status}: {body}")
            gw.signal(signal.SIGHUP)

            expect = {
                ("rdpgate_connections_total", "outcome", "not_rdp"): 1,
                ("rdpgate_refusals_total", "phase", "inspection"): 1,
                ("rdpgate_handshake_duration_seconds_count", "listener", "public"): 1,
                ("rdpgate_backend_connect_failures_total", "backend", f"127.0.0.1:{dead}"): 1,
                ("rdpgate_selected_protocol_total", "protocol", "hybrid"): 1,
                ("rdpgate_bans_total", "origin", "manual"): 1,
                ("rdpgate_config_reloads_total", "result", "success"): 1,
                ("rdpgate_backend_up", "route", "probed"): 1,
            }
            deadline = time.monotonic() + 15
            while True:
                series = metrics.parse(gw.scrape())
                present = {base_metric(n) for n in series}
                missing = sorted(m for m in used if m != "up" and m not in present
                                 and m != "rdpgate_tokens_total" and m not in REDIS_METRICS)
                short = [f"{n}{{{k}={v!r}}} >= {want}" for (n, k, v), want in expect.items()
                         if metrics.value(series, n, **{k: v}) < want]
                if (not missing and not short) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            label_gaps = []
            for name in used & present:
                for labels, _ in series.get(name + ("_count" if name in HISTOGRAMS else ""), []):
                    if not KNOWN_METRICS[name] <= set(labels):
                        label_gaps.append(f"{name} has labels {sorted(labels)}, "
                                          f"dashboard expects {sorted(KNOWN_METRICS[name])}")
                        break
        finally:
            status = gw.stop()
            backend.close()
        out = []
        if missing:
            out.append(f"metrics the dashboard queries but the scrape lacks: {missing}")
        if short:
            out.append(f"counters that did not move: {short}")
        out += label_gaps
        if status != 0:
            out.append(f"rdpgate exited with {status} after SIGTERM (expected 0)")
        if out:
            raise Fail("\n".join(out) + "\nrdpgate stderr:\n" + gw.log_tail())
        print(f"scrape of a running rdpgate has all {len(used) - 1} metrics the dashboard queries; "
              f"handshake, refusal, connect failure, ban and reload all counted; clean exit")


# ---- systemd ----------------------------------------------------------------------------------

def unit_copy(tmp):
    """The unit with ExecStart*/ExecReload pointing at a binary that exists (verify needs it)."""
    binary = os.environ.get("RDPGATE_BIN") or "/bin/true"
    if not Path(binary).exists():
        binary = "/bin/true"
    path = Path(tmp) / "rdpgate.service"
    path.write_text(UNIT.read_text().replace("/usr/local/bin/rdpgate", binary))
    return path


def check_systemd_verify():
    analyze = need_tool("systemd-analyze")
    text = UNIT.read_text()
    directives = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    problems = []
    for key, want in {"ExecStart": "/usr/local/bin/rdpgate run --config /etc/rdpgate/rdpgate.yaml",
                      "KillSignal": "SIGTERM", "Restart": "on-failure", "NoNewPrivileges": "yes",
                      "ProtectSystem": "strict", "StateDirectory": "rdpgate",
                      "ConfigurationDirectory": "rdpgate", "LimitNOFILE": "1048576",
                      "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
                      "SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes"}.items():
        if directives.get(key) != want:
            problems.append(f"{key}={directives.get(key)!r}, expected {want!r}")
    if "ExecReload=/bin/kill -HUP $MAINPID" not in text:
        problems.append("ExecReload=/bin/kill -HUP $MAINPID missing")
    if "SystemCallFilter=@system-service" not in text:
        problems.append("SystemCallFilter=@system-service missing")
    stop = re.search(r"^TimeoutStopSec=(\d+)s?$", text, re.M)
    if not stop or int(stop.group(1)) <= 30:
        problems.append("TimeoutStopSec must exceed the default drain timeout (30s)")
    with tempfile.TemporaryDirectory() as tmp:
        path = unit_copy(tmp)
        r = run([analyze, "verify", str(path)], cwd=tmp)
        output = (r.stdout + r.stderr).strip()
        print(f"systemd-analyze verify: exit {r.returncode}\n{output}")
        if "Failed to" in output and "bus" in output.lower() and "rdpgate.service" not in output:
            raise Skip(f"systemd-analyze cannot run here: {output}")
        # verify exits 0 on unknown keys and bad values: any remark about the unit is a failure.
        if r.returncode != 0 or "rdpgate.service" in output:
            problems.append("systemd-analyze verify complained about the unit")
    if problems:
        raise Fail("\n".join(problems))


def check_systemd_security():
    analyze = need_tool("systemd-analyze")
    if "--offline" not in run([analyze, "--help"]).stdout:
        raise Skip("systemd-analyze has no --offline (needs systemd >= 250)")
    with tempfile.TemporaryDirectory() as tmp:
        path = unit_copy(tmp)
        r = run([analyze, "security", "--offline=true", "--no-pager", str(path)], cwd=tmp)
        output = r.stdout + r.stderr
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
        if not m:
            raise Fail(f"no exposure level in systemd-analyze output:\n{output}")
        score = float(m.group(1))
        print("\n".join(l for l in output.splitlines() if l.startswith("✗")))
        print(f"exposure level {score} (must be <= 2.0)")
        if score > 2.0:
            raise Fail(f"exposure {score} > 2.0")


# ---- Container --------------------------------------------------------------------------------

def check_container():
    text = CONTAINERFILE.read_text()
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    lines = [l.strip() for l in logical.splitlines() if l.strip() and not l.strip().startswith("#")]
    args = {m.group(1): m.group(2) for l in lines
            if (m := re.match(r"ARG\s+(\w+)=(\S+)", l))}
    stages, problems = [], []
    for l in lines:
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", l, re.I)
        if m:
            image = re.sub(r"\$\{(\w+)\}", lambda x: args.get(x.group(1), x.group(0)), m.group(1))
            stages.append({"image": image, "name": m.group(2), "lines": []})
        elif stages:
            stages[-1]["lines"].append(l)
    if len(stages) < 2:
        problems.append(f"expected a multi-stage build, found {len(stages)} stage(s)")
    for s in stages:
        tag = s["image"].rsplit("/", 1)[-1]
        if ":" not in tag and "@" not in tag or tag.endswith(":latest"):
            problems.append(f"base image {s['image']!r} must be pinned (no implicit or explicit latest)")
    if stages:
        build, final = stages[0], stages[-1]
        if not re.match(r"(docker\.io/(library/)?)?debian:12(@|$)", build["image"]):
            problems.append(f"build stage should be Debian 12, is {build['image']}")
        if not re.match(r"(docker\.io/(library/)?)?debian:12-slim(@|$)", final["image"]):
            problems.append(f"runtime stage should be debian:12-slim, is {final['image']}")
        body = "\n".join(final["lines"])
        users = [l.split(None, 1)[1] for l in final["lines"] if l.upper().startswith("USER ")]
        if not users or users[-1].split(":")[0] in ("root", "0"):
            problems.append("runtime stage must switch to a non-root USER")
        for dev in re.findall(r"\b[\w.+-]+-dev\b", body):
            problems.append(f"runtime stage installs a -dev package: {dev}")
        for tool in ("cmake", "g++", "gcc", "ninja-build"):
            if re.search(rf"\s{re.escape(tool)}(\s|$)", body):
                problems.append(f"runtime stage installs build tool {tool}")
        if not re.search(r"^EXPOSE\s+.*\b3389\b", body, re.M):
            problems.append("runtime stage must EXPOSE 3389")
        hc = [l for l in final["lines"] if l.upper().startswith("HEALTHCHECK")]
        if not hc or "/healthz" not in hc[0]:
            problems.append("HEALTHCHECK must probe the admin /healthz")
        if not any(l.startswith("COPY --from=") for l in final["lines"]):
            problems.append("runtime stage must COPY the binary --from the build stage")
        if "rm -rf /var/lib/apt/lists" not in body:
            problems.append("runtime stage must clean the apt lists")
        for l in final["lines"]:
            if re.match(r"(ENTRYPOINT|CMD)\s+\[", l):
                try:
                    json.loads(l.split(None, 1)[1])
                except json.JSONDecodeError:
                    problems.append(f"exec-form JSON does not parse: {l}")
    # The default config shipped in the image must listen where EXPOSE and HEALTHCHECK say.
    config = (DEPLOY / "container" / "rdpgate.yaml").read_text()
    for needle in ('"0.0.0.0:3389"', '"0.0.0.0:9489"', '"127.0.0.1:9488"'):
        if needle not in config:
            problems.append(f"deploy/container/rdpgate.yaml: {needle} expected")
    if problems:
        raise Fail("\n".join(problems))
    print(f"{len(stages)} stages: " + " -> ".join(s["image"] for s in stages) + "; non-root USER, "
          "no -dev packages at runtime, EXPOSE 3389, HEALTHCHECK /healthz")


# ---- Kubernetes -------------------------------------------------------------------------------

def k8s_documents():
    yaml = load_yaml_module()
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        try:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc is not None:
                    docs.setdefault(doc.get("kind"), []).append((path.name, doc))
        except yaml.YAMLError as e:
            raise Fail(f"{path.name}: not valid YAML: {e}") from e
    return yaml, docs


def duration_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text))
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else None


def check_kubernetes():
    yaml, docs = k8s_documents()
    problems = []
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"):
        if kind not in docs:
            problems.append(f"no {kind}")
    if "PodMonitor" not in docs and "ServiceMonitor" not in docs:
        problems.append("no PodMonitor or ServiceMonitor")
    if problems:
        raise Fail("\n".join(problems))
    for kind, items in docs.items():
        for name, doc in items:
            if "namespace" in doc.get("metadata", {}):
                problems.append(f"{name}: manifests must not name a namespace")
            if kind != "Kustomization" and not doc.get("apiVersion"):
                problems.append(f"{name}: no apiVersion")
    kustomization = docs.get("Kustomization", [(None, {})])[0][1]
    listed = set(kustomization.get("resources", []))
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    if kustomization and listed != on_disk:
        problems.append(f"kustomization resources {sorted(listed)} != files {sorted(on_disk)}")

    def named(kind, name):
        return next(doc for _, doc in docs[kind] if doc["metadata"]["name"] == name)

    config_text = docs["ConfigMap"][0][1]["data"]["rdpgate.yaml"]
    config = yaml.safe_load(config_text)
    deployment = docs["Deployment"][0][1]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    if deployment["spec"].get("replicas") != 2:
        problems.append("Deployment: replicas must be 2")
    if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
        problems.append("Deployment: pod securityContext.runAsNonRoot must be true")
    csc = container.get("securityContext", {})
    if csc.get("readOnlyRootFilesystem") is not True or csc.get("allowPrivilegeEscalation") is not False:
        problems.append("Deployment: readOnlyRootFilesystem true and allowPrivilegeEscalation false")
    if "ALL" not in csc.get("capabilities", {}).get("drop", []):
        problems.append("Deployment: drop ALL capabilities")
    if not container.get("resources", {}).get("requests") or not container["resources"].get("limits"):
        problems.append("Deployment: resources requests and limits")
    if ":latest" in container["image"] or ":" not in container["image"].rsplit("/", 1)[-1]:
        problems.append("Deployment: image must carry a version tag")
    for probe in ("readinessProbe", "livenessProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != "/healthz" or port != ports.get("admin"):
            problems.append(f"Deployment: {probe} must GET /healthz on the admin port")

    # The manifests and the embedded config must agree on ports, paths and timeouts.
    def port_of(address):
        return int(str(address).rsplit(":", 1)[1])

    listener = config["listeners"][0]
    if port_of(listener["address"]) != ports.get("rdp"):
        problems.append("listener port != container port `rdp`")
    trusted = listener.get("proxy_protocol", {}).get("trusted")
    if not trusted:
        problems.append("listener needs proxy_protocol: {trusted: [...]} behind the load balancer")
    elif any(int(str(c).split("/")[1]) < 16 for c in trusted):
        problems.append("proxy_protocol.trusted must name the load balancer's subnets, nothing "
                        f"wider than a /16: {trusted}")
    if port_of(config["admin"]["address"]) != ports.get("admin"):
        problems.append("admin.address port != container port `admin`")
    if not str(config["admin"]["address"]).startswith("0.0.0.0:"):
        problems.append("admin must listen on the pod IP for the kubelet's probes")
    if port_of(config["metrics"]["address"]) != ports.get("metrics"):
        problems.append("metrics.address port != container port `metrics`")
    drain = duration_seconds(config.get("shutdown", {}).get("drain_timeout", "30s"))
    if pod.get("terminationGracePeriodSeconds", 30) <= drain:
        problems.append("terminationGracePeriodSeconds must exceed shutdown.drain_timeout")
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    config_path = container["args"][container["args"].index("--config") + 1]
    cfg_mount = next((m for m in mounts.values() if config_path.startswith(m["mountPath"])), None)
    if not cfg_mount or "configMap" not in volumes.get(cfg_mount["name"], {}):
        problems.append(f"--config {config_path} is not inside the ConfigMap's mount")
    elif cfg_mount.get("subPath"):
        problems.append("mount the ConfigMap as a folder: a subPath mount never sees updates")
    token_file = config["admin"].get("token_file", "")
    tok_mount = next((m for m in mounts.values() if token_file.startswith(m["mountPath"] + "/")), None)
    secret = named("Secret", "rdpgate-admin")
    if not tok_mount or volumes.get(tok_mount["name"], {}).get("secret", {}).get("secretName") \
            != secret["metadata"]["name"]:
        problems.append("admin.token_file is not inside the Secret's mount")
    elif Path(token_file).name not in secret.get("stringData", secret.get("data", {})):
        problems.append(f"Secret has no key {Path(token_file).name!r}")
    if not any("PLACEHOLDER" in str(v) for v in secret.get("stringData", {}).values()):
        problems.append("the Secret's value must be marked as a placeholder")
    state = config.get("state", {}).get("path", "/var/lib/rdpgate")
    if not any(state.startswith(m["mountPath"]) for m in mounts.values()):
        problems.append("state.path must be a writable mount (the root filesystem is read-only)")
    # Several replicas share their state through Redis, or each would ban on its own.
    redis = config.get("state", {}).get("redis", {})
    redis_host = str(redis.get("address", "")).rsplit(":", 1)[0]
    if redis_host not in {doc["metadata"]["name"] for _, doc in docs["Service"]}:
        problems.append(f"state.redis.address must name the Redis Service, not {redis_host!r}")
    password_mount = next((m for m in mounts.values()
                           if str(redis.get("password_file", "")).startswith(m["mountPath"] + "/")),
                          None)
    if not password_mount or volumes.get(password_mount["name"], {}).get("secret", {}).get(
            "secretName") != "rdpgate-redis":
        problems.append("state.redis.password_file is not inside the rdpgate-redis Secret's mount")
    if "StatefulSet" not in docs:
        problems.append("no Redis StatefulSet")

    service = named("Service", "rdpgate")
    if service["spec"].get("type") != "LoadBalancer":
        problems.append("Service type must be LoadBalancer")
    if service["spec"].get("externalTrafficPolicy") != "Local":
        problems.append("Service externalTrafficPolicy must be Local")
    if service["metadata"].get("annotations", {}).get(
            "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol") != "*":
        problems.append("Service needs the PROXY protocol annotation")
    if service["spec"]["ports"][0].get("targetPort") not in ("rdp", ports.get("rdp")):
        problems.append("Service targetPort must be the rdp port")
    selector = service["spec"]["selector"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in selector.items()):
        problems.append("Service selector does not match the pod labels")
    pdb = docs["PodDisruptionBudget"][0][1]
    if any(labels.get(k) != v for k, v in pdb["spec"]["selector"]["matchLabels"].items()):
        problems.append("PodDisruptionBudget selector does not match the pod labels")
    monitor = (docs.get("PodMonitor") or docs.get("ServiceMonitor"))[0][1]
    endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"].get("endpoints")
    if endpoints[0].get("port") != "metrics":
        problems.append("the monitor must scrape the `metrics` port")
    if not any(r.get("targetLabel") == "job" and r.get("replacement") == "rdpgate"
               for r in endpoints[0].get("relabelings", [])):
        problems.append('the monitor must set job="rdpgate" (the alert rules select it)')
    if problems:
        raise Fail("\n".join(problems))
    print(f"{sum(len(v) for v in docs.values())} manifests parse; ports, mounts, probes, "
          "timeouts and selectors agree with the embedded rdpgate config")


def check_config_files():
    """The rdpgate configs shipped in deploy/ pass `rdpgate check-config`."""
    binary = need_rdpgate()
    yaml, docs = k8s_documents()
    configs = {
        "kubernetes/configmap.yaml": docs["ConfigMap"][0][1]["data"]["rdpgate.yaml"],
        "container/rdpgate.yaml": (DEPLOY / "container" / "rdpgate.yaml").read_text(),
        "fleet/a.yaml": (DEPLOY / "fleet" / "a.yaml").read_text(),
        "fleet/b.yaml": (DEPLOY / "fleet" / "b.yaml").read_text(),
    }
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        token = Path(tmp) / "admin-token"
        token.write_text("0123456789abcdef0123456789abcdef\n")
        os.chmod(token, 0o600)
        for name, text in configs.items():
            # Only the paths that exist in the pod or image are moved; the rest is checked as is.
            text = text.replace("/etc/rdpgate/secret/admin-token", str(token))
            text = text.replace("/var/lib/rdpgate", str(Path(tmp) / "state"))
            path = Path(tmp) / (name.replace("/", "_"))
            path.write_text(text)
            r = run([binary, "check-config", str(path)], env=dict(os.environ,
                    RDPGATE_ADMIN_TOKEN="0123456789abcdef0123456789abcdef"))
            print(f"{name}: exit {r.returncode} {r.stdout}{r.stderr}".strip())
            if r.returncode != 0:
                problems.append(f"rdpgate check-config rejects {name}")
        # And it must reject a broken one, or the checks above prove nothing.
        bad = Path(tmp) / "bad.yaml"
        bad.write_text(configs["kubernetes/configmap.yaml"].replace("listeners:", "listenerz:", 1))
        if run([binary, "check-config", str(bad)]).returncode != 1:
            problems.append("rdpgate check-config accepted a config with an unknown key")
    if problems:
        raise Fail("\n".join(problems))


# ---- logrotate --------------------------------------------------------------------------------

def check_logrotate():
    text = LOGROTATE.read_text()
    problems = []
    if not re.search(r"^/var/log/rdpgate/\*\.log\s*\{", text, re.M):
        problems.append("must rotate /var/log/rdpgate/*.log")
    body = "\n".join(l for l in text.splitlines() if not l.strip().startswith("#"))
    if not re.search(r"^\s*copytruncate\s*$", body, re.M):
        problems.append("rdpgate does not promise to reopen logs on SIGHUP: use copytruncate")
    if "postrotate" in body or "kill" in body:
        problems.append("no postrotate signal: SIGHUP reloads the configuration")
    logrotate = need_tool("logrotate") if not problems else None
    if problems:
        raise Fail("\n".join(problems))
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "log"
        logs.mkdir()
        (logs / "rdpgate.log").write_text("x" * 100 + "\n")
        conf = Path(tmp) / "rdpgate.conf"
        text = text.replace("/var/log/rdpgate", str(logs))
        if os.geteuid() != 0:  # `su root root` is for the real root-run logrotate only
            text = re.sub(r"^\s*su\s.*$", "", text, flags=re.M)
        conf.write_text(text)
        r = run([logrotate, "-d", "-s", str(Path(tmp) / "state"), str(conf)])
        output = r.stdout + r.stderr
        errors = [l for l in output.splitlines() if l.lower().startswith(("error", "warning"))
                  and "debug mode does nothing" not in l]
        print(f"logrotate -d: exit {r.returncode}; {len(errors)} errors")
        if r.returncode != 0 or errors or f"considering log {logs}/rdpgate.log" not in output:
            raise Fail("logrotate -d rejects the snippet:\n" + output)
        # A forced rotation really copies and truncates.
        r = run([logrotate, "-f", "-s", str(Path(tmp) / "state"), str(conf)])
        rotated = [p for p in logs.iterdir() if p.name != "rdpgate.log"]
        if r.returncode != 0 or (logs / "rdpgate.log").stat().st_size != 0 or not rotated:
            raise Fail(f"forced rotation did not copy and truncate: {r.stdout}{r.stderr}")
    print("logrotate accepts the snippet; a forced rotation copies and truncates in place")


CHECKS = {
    "promtool-check-rules": check_promtool_rules,
    "promtool-check-config": check_promtool_config,
    "promtool-test-rules": check_promtool_test_rules,
    "dashboard": check_dashboard,
    "dashboard-live": check_dashboard_live,
    "systemd-verify": check_systemd_verify,
    "systemd-security": check_systemd_security,
    "container": check_container,
    "kubernetes": check_kubernetes,
    "check-config": check_config_files,
    "logrotate": check_logrotate,
}


if __name__ == "__main__":
    sys.exit(checks.run_named(CHECKS, sys.argv))
