"""The ASP.NET sample provider (examples/providers/aspnet) for tests: built
with its own build script (mcs) and served by its own host
(bin/AspNetHost.exe: Mono's ASP.NET runtime behind an HttpListener) on a
free loopback port.

``build_site`` blocks for some seconds (three mcs runs); build once per
session. ``RunningSite`` starts the host and waits for the line it prints
when it accepts requests; ``stop`` ends that one process.
"""
from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import dotnet
from peer_process import PeerProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "providers" / "aspnet"
BUILD_SCRIPT = EXAMPLE / "build"
REQUIRED_TOOLS = ("mono", "mcs")

NAMESPACE = "http://providers.example.com/helpdesk/"  # the provider's [WebService(Namespace=...)]
AUTH_PW = "aspnet=provider pw"  # an '=' in it: authPW's value is taken as is


def build_site(out: Path, auth_password: str = AUTH_PW) -> Path:
    """Build the site into ``out`` and set its Provider.AuthPassword."""
    subprocess.run(["bash", str(BUILD_SCRIPT), str(out)], check=True, capture_output=True, text=True,
                   timeout=dotnet.TOOL_TIMEOUT)
    set_auth_password(out, auth_password)
    return out


def set_auth_password(site: Path, password: str) -> None:
    """Provider.AuthPassword in the site's Web.config (ASP.NET restarts the
    application when the file changes)."""
    set_app_setting(site, "Provider.AuthPassword", password)


def set_app_setting(site: Path, key: str, value: str) -> None:
    web_config = site / "Web.config"
    tree = ElementTree.parse(web_config)
    tree.find("appSettings/add[@key='%s']" % key).set("value", value)
    tree.write(web_config, encoding="utf-8", xml_declaration=True)


def hash_password(site: Path, password: str) -> str:
    """A passwordHash made by the site's bin/HashPassword.exe, as an administrator makes one."""
    completed = subprocess.run(["mono", str(site / "bin" / "HashPassword.exe")], input=password + "\n",
                               check=True, capture_output=True, text=True, timeout=dotnet.TOOL_TIMEOUT)
    return re.fullmatch(r'passwordHash="([^"]+)"\n', completed.stdout).group(1)


def add_customer(site: Path, name: str, password_hash: str, email: str, display_name: str) -> None:
    path = site / "App_Data" / "customers.xml"
    tree = ElementTree.parse(path)
    ElementTree.SubElement(tree.getroot(), "customer", name=name, email=email, displayName=display_name,
                           passwordHash=password_hash)
    tree.write(path, encoding="utf-8", xml_declaration=True)


class RunningSite(PeerProcess):
    """``mono bin/AspNetHost.exe`` serving ``site`` on 127.0.0.1 (a free port)."""

    def __init__(self, site: Path, timeout: float = 60):
        self.site = site
        # ASP.NET shadow-copies bin/ to $TMPDIR/<user>-temp-aspnet-0/<per site>:
        # keep that with the test's site, which pytest removes.
        temp = site.parent / (site.name + "-temp")
        temp.mkdir(exist_ok=True)
        super().__init__(["mono", "--debug", str(site / "bin" / "AspNetHost.exe"), "--listen", "127.0.0.1:0"],
                         r"^Listening on (http://127\.0\.0\.1:\d+/)$", site / "host.log", "AspNetHost",
                         timeout=timeout, cwd=site, env={**os.environ, "TMPDIR": str(temp)})
        self.base_url = self.url
        self.url = self.base_url + "Provider.asmx"
