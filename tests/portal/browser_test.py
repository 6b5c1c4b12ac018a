#!/usr/bin/env python3
"""The self-service portal end to end, with a real browser and a real RDP session:

- headless Debian chromium, driven by Selenium through chromedriver, opens the portal served by
  rdpgate (HTTPS, self-signed), signs in with the password and the current TOTP code of a user
  made by `rdpgate user add`, and chooses a route: rdpgate grants 127.0.0.1/32 that route
  (reason "portal: alice", listed by GET /v1/grants, counted in rdpgate_portal_grants_total)
  and the browser downloads `shadow.rdp` with `full address:s:` the gateway's listener and a
  signed routing token bound to 127.0.0.1/32 in `loadbalanceinfo:s:`;
- real xfreerdp reads that .rdp file and connects through rdpgate (a `jit` listener and a route
  with `require_token: true`, so neither the grant nor the token is optional) to
  freerdp-shadow-cli with NLA;
- the live-grants page lists the grant and its End button ends it;
- wrong password, wrong code, expired code, a missing CSRF token and a banned source are each
  refused, create no session and are counted in rdpgate_portal_signins_total{result}. The
  refusals come from other addresses through X-Forwarded-For (127.0.0.1 is a trusted proxy), so
  the bans they cause never touch the browser's own address.

The browser's screenshots of the sign-in and routes pages go to RDPGATE_SCREENSHOTS when that
is set (ctest sets build/tests/portal/screenshots; the README's are copies in docs/images). Exits 77 (skipped) when a program is missing.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

from support import checks, env, peers, portal
from support.gateway import Gateway, yaml_quote
from support.net import free_port
from support.wait import poll, wait_until

PASSWORD = "portal-Passw0rd"
BROWSER_PROGRAMS = ("chromium", "chromedriver", "openssl")


def webdriver_or_skip():
    try:
        from selenium import webdriver  # Debian's python3-selenium
    except ImportError as e:
        raise unittest.SkipTest(f"selenium is not importable: {e}") from e
    return webdriver


class PortalEndToEnd(peers.PeersTestCase):
    PROGRAMS = peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS + BROWSER_PROGRAMS

    @classmethod
    def setUpClass(cls):
        cls.webdriver = webdriver_or_skip()
        super().setUpClass()
        cls.shadow = cls.started(peers.ShadowServer(cls.xvfb.display, mode="nla"))
        cls.work = tempfile.mkdtemp(prefix="rdpgate-portal-")
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        cert, key = peers.make_self_signed_cert(cls.work)
        os.chmod(key, 0o600)
        secret = portal.write_secret(os.path.join(cls.work, "hs.key"), os.urandom(32))
        users = os.path.join(cls.work, "users")
        cls.uri = portal.add_user(env.rdpgate_bin(), users, "alice", "shadow,absent", PASSWORD)
        cls.listener_port = free_port()
        listeners = ('  - name: public\n'
                     f'    address: "127.0.0.1:{cls.listener_port}"\n'
                     '    mode: jit\n')
        routes = ('  - name: shadow\n'
                  f'    backends: ["127.0.0.1:{cls.shadow.port}"]\n'
                  '    mode: jit\n'
                  '    require_token: true\n')
        extra = ("tokens:\n"
                 f"  keys: [{{id: portal, alg: HS256, secret_file: {yaml_quote(secret)}}}]\n"
                 "portal:\n"
                 '  address: "127.0.0.1:0"\n'
                 f"  tls: {{cert_file: {yaml_quote(cert)}, key_file: {yaml_quote(key)}}}\n"
                 f'  public_address: "127.0.0.1:{cls.listener_port}"\n'
                 f"  users_file: {yaml_quote(users)}\n"
                 "  grant_duration: 1h\n"
                 "  max_grant_duration: 4h\n"
                 '  trusted_proxies: ["127.0.0.1/32"]\n')
        text = peers.gateway_yaml(listeners, routes,
                                  "{enabled: true, max_failures: 3, find_time: 10m}") + extra
        cls.gw = Gateway(text, admin_token=peers.ADMIN_TOKEN)
        cls.addClassCleanup(cls.gw.cleanup)
        cls.gw.start(listeners=1)
        cls.host, cls.port = cls.gw.addr("portal")

    # -- helpers -------------------------------------------------------------------------------

    def browser(self):
        options = self.webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--ignore-certificate-errors", "--window-size=900,640",
                    f"--user-data-dir={tempfile.mkdtemp(dir=self.work)}"):
            options.add_argument(arg)
        self.downloads = tempfile.mkdtemp(dir=self.work)
        options.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                                  "download.prompt_for_download": False,
                                                  "safebrowsing.enabled": False})
        from selenium.webdriver.chrome.service import Service
        service = Service(executable_path=shutil.which("chromedriver"))
        driver = self.webdriver.Chrome(options=options, service=service)
        self.addCleanup(driver.quit)
        driver.set_page_load_timeout(20)
        driver.execute_cdp_cmd("Page.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": self.downloads})
        return driver

    def screenshot(self, driver, name: str) -> None:
        where = os.environ.get("RDPGATE_SCREENSHOTS")
        if where:
            os.makedirs(where, exist_ok=True)
            self.assertTrue(driver.save_screenshot(os.path.join(where, name)))

    def fresh_code(self) -> str:
        """A code for a sign-in that will succeed: of a step after the last successful one
        (each code is good for one sign-in; refused attempts use none up)."""
        if getattr(self, "_last_step", None) == int(time.time() // 30):
            time.sleep(30 - time.time() % 30 + 0.2)
        self.__class__._last_step = int(time.time() // 30)
        return portal.totp(self.uri)

    def grants(self) -> list[dict]:
        status, body = self.gw.admin("GET", "/v1/grants")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def signins(self, result: str) -> float:
        return self.gw.metric("rdpgate_portal_signins_total", {"result": result}, default=0)

    # -- tests ---------------------------------------------------------------------------------

    def test_1_browser_signin_route_rdp_file_and_xfreerdp(self):
        from selenium.webdriver.common.by import By
        driver = self.browser()
        driver.get(f"https://{self.host}:{self.port}/")
        self.assertIn("Sign in", driver.title)
        self.screenshot(driver, "portal-signin.png")
        driver.find_element(By.NAME, "username").send_keys("alice")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.NAME, "otp").send_keys(self.fresh_code())
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        poll(lambda: driver.current_url.endswith("/routes"), 15)
        self.assertTrue(driver.current_url.endswith("/routes"),
                        f"{driver.current_url}\n{driver.page_source}\n{self.gw.log_tail()}")
        buttons = driver.find_elements(By.XPATH, "//button[contains(., 'shadow')]")
        self.assertEqual(len(buttons), 1, driver.page_source)
        # `absent` is in the users file but not in the configuration: not offered.
        self.assertNotIn("absent", driver.page_source)
        self.screenshot(driver, "portal-routes.png")
        self.assertEqual(self.signins("success"), 1)

        buttons[0].click()
        rdp_path = os.path.join(self.downloads, "shadow.rdp")
        wait_until(lambda: os.path.exists(rdp_path), 20, "the downloaded shadow.rdp")
        with open(rdp_path, encoding="utf-8") as f:
            rdp = f.read()
        lines = rdp.splitlines()
        self.assertIn(f"full address:s:127.0.0.1:{self.listener_port}", lines)
        self.assertIn("enablecredsspsupport:i:1", lines)
        self.assertIn("authentication level:i:2", lines)
        token = next(line for line in lines if line.startswith("loadbalanceinfo:s:"))
        self.assertIn(".shadow.", token)
        self.assertIn("127_0_0_1/32", token)  # bound to the address

        grants = self.grants()
        self.assertEqual(len(grants), 1, grants)
        self.assertEqual((grants[0]["cidr"], grants[0]["route"], grants[0]["reason"]),
                         ("127.0.0.1/32", "shadow", "portal: alice"))
        self.assertEqual(self.gw.metric("rdpgate_portal_grants_total"), 1)
        self.gw.wait_event(lambda e: e.get("event") == "grant" and e.get("origin") == "portal",
                           5, "the grant's audit record")

        result = self.client.run(0, rdp_file=rdp_path)
        self.assertTrue(result.succeeded, f"{result.describe()}\n{self.gw.log_tail()}")
        self.assertEqual(result.negotiated, "NLA", result.describe())

        # Without the token (or the grant), the route is closed: the same client, no file.
        plain = self.client.run(self.listener_port)
        self.assertFalse(plain.succeeded, plain.describe())

        driver.get(f"https://{self.host}:{self.port}/grants")
        self.assertIn("127.0.0.1/32", driver.page_source)
        driver.find_element(By.XPATH, "//button[contains(., 'End')]").click()
        wait_until(lambda: self.grants() == [], 10, "the grant ended")
        self.assertNotIn("127.0.0.1/32", driver.page_source)

    def test_2_refusals(self):
        before = {r: self.signins(r) for r in ("bad_credentials", "bad_request", "banned")}
        code = portal.totp(self.uri)
        wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
        expired = portal.totp(self.uri, time.time() - 120)
        for source, password, otp in (("198.51.100.1", "not-the-password", code),
                                      ("198.51.100.2", PASSWORD, wrong_code),
                                      ("198.51.100.3", PASSWORD, expired)):
            client = portal.PortalClient(self.host, self.port, forwarded_for=source)
            status, body = client.sign_in("alice", password, otp)
            self.assertEqual(status, 401, body)
            self.assertIn("Wrong user name, password or code", body)
            self.assertIsNone(client.cookie("__Host-rdpgate_session"))
        self.assertEqual(self.signins("bad_credentials"), before["bad_credentials"] + 3)

        client = portal.PortalClient(self.host, self.port, forwarded_for="198.51.100.4")
        status, body = client.sign_in("alice", PASSWORD, portal.totp(self.uri), with_csrf=False)
        self.assertEqual(status, 403, body)
        self.assertIsNone(client.cookie("__Host-rdpgate_session"))
        self.assertEqual(self.signins("bad_request"), before["bad_request"] + 1)

        # Three failures ban the source (max_failures: 3); then even the right code is refused.
        banned = portal.PortalClient(self.host, self.port, forwarded_for="203.0.113.9")
        for _ in range(3):
            self.assertEqual(banned.sign_in("alice", "wrong-password-x", "000000")[0], 401)
        status, body = banned.sign_in("alice", PASSWORD, portal.totp(self.uri))
        self.assertEqual(status, 403, body)
        self.assertIn("Too many failed sign-ins from your address", body)
        self.assertIsNone(banned.cookie("__Host-rdpgate_session"))
        self.assertEqual(self.signins("banned"), before["banned"] + 1)
        bans = json.loads(self.gw.admin("GET", "/v1/bans")[1])
        self.assertIn("203.0.113.9/32", [b["cidr"] for b in bans])

        # A signed-in user's POST without the CSRF token is refused too.
        good = portal.PortalClient(self.host, self.port, forwarded_for="198.51.100.5")
        self.assertEqual(good.sign_in("alice", PASSWORD, self.fresh_code())[0], 303)
        status, _, body = good.request("POST", "/grant", {"route": "shadow"})
        self.assertEqual(status, 403, body)
        self.assertEqual(self.grants(), [])
        # The log never carries the password or a code.
        self.assertNotIn(PASSWORD, "\n".join(self.gw.stderr_lines))


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
