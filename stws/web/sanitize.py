"""Showing the HTML of a customer's email inside an agent's page.

The HTML is whatever the sender wrote, so it goes through nh3 (Python's
binding of ammonia, a well-kept allow-list sanitiser) before it reaches a
template: no script, no event handler, no style, no form, no frame; links
keep only http(s) and mailto and open without a referrer.

Remote images (http, https, protocol-relative) would tell the sender that
and when the ticket was read: unless the agent asked to see them, their
``src`` is dropped (the page offers "Show images", which reloads the page
with ``images=<message id>``). The page's Content-Security-Policy blocks
remote images as well (stws.web.http) and is only widened for such a reload.
Inline ``cid:`` images are dropped: they are listed as attachments.

Agents reload a ticket after each action, and a message's HTML never
changes: ``clean`` keeps the last few thousand results (of bodies up to
``CACHED_BODY_CHARS``) keyed by a digest of the markup, so a page of a
hundred mails does not sanitise them all again each time.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt",
    "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q", "s",
    "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt",
    "u", "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "*": {"dir", "lang"},
}
_SCHEMES = {"http", "https", "mailto"}


@dataclass(frozen=True)
class SafeHtml:
    html: str  # safe to insert into the page as markup
    blocked_images: int  # remote images left out for want of consent


def _is_remote(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith(("http:", "https:", "//"))


CACHE_ENTRIES = 4096
CACHED_BODY_CHARS = 64 * 1024
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def clean(markup: str, show_images: bool = False) -> SafeHtml:
    """``markup`` made safe to show (see the module docstring)."""
    markup = markup or ""
    if len(markup) > CACHED_BODY_CHARS:
        return _clean(markup, show_images)
    key = (hashlib.blake2b(markup.encode("utf-8", "surrogatepass"), digest_size=16).digest(), show_images)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    result = _clean(markup, show_images)
    with _cache_lock:
        _cache[key] = result
        if len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return result


def _clean(markup: str, show_images: bool) -> SafeHtml:
    blocked = 0

    def attribute_filter(tag: str, attribute: str, value: str):
        nonlocal blocked
        if tag == "img" and attribute == "src":
            if _is_remote(value):
                if show_images:
                    return value
                blocked += 1
                return None
            return value if value.strip().lower().startswith("data:image/") else None
        if attribute == "href" and value.strip().lower().startswith("data:"):
            return None
        return value

    html = nh3.clean(markup, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_SCHEMES | {"data"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True, attribute_filter=attribute_filter)
    return SafeHtml(html, blocked)
