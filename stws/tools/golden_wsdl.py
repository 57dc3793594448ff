"""Write the golden WSDL of every service to ``wsdl/``.

    .venv/bin/python -m stws.tools.golden_wsdl

The golden files are the reviewed contract: tests/test_wsdl.py fails when a
served WSDL differs from them. Regenerate only when a contract change is
intended, and review the diff.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

from stws.services import SERVICES
from stws.soap.endpoint import AsmxEndpoint

GOLDEN_BASE_URL = "http://localhost:9996"
GOLDEN_DIR = Path(__file__).resolve().parents[2] / "wsdl"


def canonical_wsdl(wsdl: bytes, base_url: str) -> str:
    """``wsdl`` with ``base_url`` replaced by the golden one, pretty-printed."""
    wsdl = wsdl.replace(base_url.encode(), GOLDEN_BASE_URL.encode())
    tree = etree.fromstring(wsdl, etree.XMLParser(remove_blank_text=True, resolve_entities=False))
    return etree.tostring(tree, pretty_print=True, encoding="unicode")


def golden_path(service_name: str) -> Path:
    return GOLDEN_DIR / ("%s.wsdl" % service_name)


def main() -> int:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for service in SERVICES:
        name = service.__service_name__
        endpoint = AsmxEndpoint(service, None, "%s/Services2/%s.asmx" % (GOLDEN_BASE_URL, name), 1 << 20)
        golden_path(name).write_text(canonical_wsdl(endpoint.wsdl, GOLDEN_BASE_URL), encoding="utf-8")
        print("wrote", golden_path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
