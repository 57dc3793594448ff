"""Every page an administrator reaches from the navigation, at desk and phone
width: it loads, no script error or refused content (CSP), every form
control has a name a screen reader can say, and nothing is wider than the
screen."""
from __future__ import annotations

# Controls without an accessible name, and the page's overflow past its width.
AUDIT = """() => {
  const unnamed = [];
  for (const control of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
    const labelled = control.labels && control.labels.length > 0;
    const named = control.getAttribute('aria-label') || control.getAttribute('aria-labelledby') ||
                  control.getAttribute('title') || (control.tagName === 'BUTTON' && control.textContent.trim());
    if (!labelled && !named) unnamed.push(control.outerHTML.slice(0, 120));
  }
  return {unnamed: unnamed, overflow: document.documentElement.scrollWidth - window.innerWidth};
}"""


async def test_every_page_of_the_navigation(server, browser):
    for width, height in ((1280, 900), (390, 844)):
        page = await browser.signed_in(server, *server.admin, page=await browser.new_page(width, height))

        def visit_all():
            page.goto(server.base_url + "/admin/")
            links = sorted({a.get_attribute("href") for a in page.query_selector_all("nav.side a")})
            findings = {}
            for link in links:
                response = page.goto(server.base_url + link)
                audit = page.evaluate(AUDIT)
                findings[link] = (response.status, audit["unnamed"], audit["overflow"])
            errors = list(page.errors)
            # The audit itself: it does see an unnamed control and an overflow.
            page.evaluate("""() => {
                document.body.insertAdjacentHTML('beforeend', '<input id="bare"><div id="wide">wide</div>');
                document.getElementById('wide').style.width = '3000px';
            }""")
            return links, findings, errors, page.evaluate(AUDIT)

        links, findings, errors, control = await browser.do(visit_all)
        assert [html for html in control["unnamed"] if 'id="bare"' in html] and control["overflow"] > 0
        assert len(links) >= 9  # home, 3 tools, 5 organization, password
        for link, (status, unnamed, overflow) in findings.items():
            assert status == 200, (link, status)
            assert unnamed == [], (link, width, unnamed)
            assert overflow <= 0, (link, width, overflow)
        assert errors == [], errors
