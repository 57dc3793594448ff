"""HTML rendering: one autoescaping Jinja2 environment over ``web/templates``."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

_environment = Environment(
    loader=FileSystemLoader(str(WEB_DIR / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)


def render_page(template: str, **context) -> bytes:
    return _environment.get_template(template).render(**context).encode("utf-8")
