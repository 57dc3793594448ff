"""HTML rendering: one autoescaping Jinja2 environment over the templates
that ship inside the package (``stws/web/templates``), so an installed wheel
renders every page."""
from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_environment = Environment(
    loader=PackageLoader("stws.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)


def render_page(template: str, **context) -> bytes:
    return _environment.get_template(template).render(**context).encode("utf-8")


def environment() -> Environment:
    return _environment
