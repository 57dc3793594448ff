"""The new ticket form in a real browser, with the sample provider
(examples/providers/python) on loopback as the custom field and ticket
provider: the fields the provider leaves visible, marked required and with
its list options, swapped in by the page's script when the department
changes (and by the "Update the custom fields" button without script); a
required field enforced beside the field; the ticket provider's refusal
shown as its Message; a provider that cannot be reached. Every refusal
keeps what was typed and creates nothing.

Fields and rules: tests/tickets/test_new_ticket_form.py's docstring.
"""
from __future__ import annotations

from browser.conftest import ARTIFACTS, submit
from browser.test_every_page import AUDIT
from scripted_peers import closed_port
from tickets.conftest import AGENT, desk  # noqa: F401 (desk: a fixture)
from tickets.test_new_ticket_form import (  # noqa: F401 (form_provider: a fixture)
    define_form_fields, enable_providers, form_provider, stored_values, ticket_count,
)

NEW = "/admin/tickets/new"


def field_names(page) -> list[str]:
    return [element.get_attribute("data-field") for element in page.query_selector_all("#custom-fields [data-field]")]


def options_of(page, name: str) -> list[str]:
    return [option.text_content() for option in page.query_selector_all(
        '[data-field="%s"] select option' % name) if option.get_attribute("value") != ""]


def fields_settled(page) -> None:
    """Wait until the script's new fields (asked for on a change) are in.
    A selector, not wait_for_function: polling an expression is an eval,
    which the pages' Content-Security-Policy refuses."""
    page.wait_for_selector("#new-ticket-form:not([aria-busy])", state="attached")


def choose_department(page, department_id: int) -> None:
    """Select a department and wait for the script's new fields."""
    with page.expect_response(lambda answer: "/tickets/new/fields?" in answer.url
                              and "department_id=%d&" % department_id in answer.url):
        page.select_option("#department_id", str(department_id))
    fields_settled(page)


def fill_ticket(page, email: str, subject: str = "Order went missing") -> None:
    """Fill in the address, subject and body. With script, the address
    change asks for the fields again and replaces them: this waits until
    they are in, as a value typed into the old ones as they go is lost."""
    page.fill("#email", email)
    page.fill("#subject", subject)
    page.fill("#body", "Ordered last week, nothing came.")
    fields_settled(page)


def create(page):
    """Submit (the server's checks, not the browser's); (status, the
    refusal above the form or None, the notice after creating or None)."""
    page.eval_on_selector("#new-ticket-form", "f => { f.noValidate = true; }")
    with page.expect_navigation() as navigation:
        page.click("#new-ticket-form button.primary")
    error = page.query_selector("#create-error")
    created = None if error else page.query_selector("main .notice")
    return navigation.value.status, error.text_content() if error else None, \
        created.text_content() if created else None


async def test_the_form_shows_what_the_provider_decides(server, browser, desk, form_provider):  # noqa: F811
    sales = define_form_fields(server.runtime)
    await enable_providers(server, form_provider.url, "CustomField", "Ticket")
    page = await browser.signed_in(server, *AGENT)

    def support_then_sales():
        page.goto(server.base_url + NEW)
        in_support = field_names(page)
        required_mark = page.text_content('[data-field="Customer ID"] label')
        refresh_button = page.query_selector("[data-refresh-fields]")  # removed by the script
        fill_ticket(page, "carol@example.com")
        page.select_option('[data-field="Product"] select', "Enterprise")
        choose_department(page, sales)
        page.screenshot(path=str(ARTIFACTS / "new-ticket-form.png"), full_page=True)
        return in_support, required_mark, refresh_button, field_names(page), options_of(page, "Product"), \
            page.evaluate(AUDIT), list(page.errors)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    in_support, required_mark, refresh_button, in_sales, products, audit, errors = \
        await browser.do(support_then_sales)
    assert audit["unnamed"] == [] and audit["overflow"] <= 0 and errors == []  # the swapped-in fields too
    assert in_support == ["Customer ID", "Product", "Callback"]  # Internal Code: hidden in Support
    assert "(required)" in required_mark and refresh_button is None
    assert in_sales == ["Customer ID", "Order Number", "Product", "Internal Code", "Callback"]
    assert products == ["Basic", "Pro"]

    def required_field_left_empty():
        page.fill('[data-field="Order Number"] input', "A-17")
        page.select_option('[data-field="Product"] select', "Pro")
        page.check('[data-field="Callback"] input[type=checkbox]')
        status, error, _ = create(page)
        problem = page.query_selector('[data-field="Customer ID"] .problem')
        kept = (page.input_value("#body"), page.input_value('[data-field="Order Number"] input'),
                page.input_value('[data-field="Product"] select'),
                page.is_checked('[data-field="Callback"] input[type=checkbox]'), page.input_value("#department_id"))
        page.screenshot(path=str(ARTIFACTS / "new-ticket-form-required.png"), full_page=True)
        return status, error, problem.text_content() if problem else None, kept

    before = ticket_count(server)
    status, error, problem, kept = await browser.do(required_field_left_empty)
    assert status == 400 and error is None
    assert problem == "The ticket was not created: the custom field Customer ID is required and has no value."
    assert kept == ("Ordered last week, nothing came.", "A-17", "Pro", True, str(sales))
    assert ticket_count(server) == before

    def filled_in():
        page.fill('[data-field="Customer ID"] input', "C-1001")
        return create(page), page.url

    (status, error, created), url = await browser.do(filled_in)
    assert error is None and created and created.startswith("Ticket "), (status, url, created)
    number = url.rsplit("=", 1)[1]
    assert stored_values(server, number) == {"Customer ID": "C-1001", "Order Number": "A-17", "Product": "Pro",
                                            "Callback": "true"}


async def test_the_ticket_providers_refusal_is_its_message(server, browser, desk, form_provider):  # noqa: F811
    define_form_fields(server.runtime)
    await enable_providers(server, form_provider.url, "CustomField", "Ticket")
    page = await browser.signed_in(server, *AGENT)

    def refused():
        page.goto(server.base_url + NEW)
        fill_ticket(page, "someone@spam.example")
        page.fill('[data-field="Customer ID"] input', "C-9")
        status, error, _ = create(page)
        return status, error, page.input_value("#email"), page.input_value('[data-field="Customer ID"] input')

    before = ticket_count(server)
    status, error, email, customer_id = await browser.do(refused)
    assert status == 400 and error == "Not from your address."
    assert (email, customer_id) == ("someone@spam.example", "C-9")
    assert ticket_count(server) == before


async def test_a_provider_that_cannot_be_reached(server, browser, desk):  # noqa: F811
    define_form_fields(server.runtime)
    await enable_providers(server, "http://127.0.0.1:%d/provider.asmx" % closed_port(), "CustomField")
    page = await browser.signed_in(server, *AGENT)

    def unreachable():
        page.goto(server.base_url + NEW)
        shown = page.text_content("#fields-notice")
        fill_ticket(page, "carol@example.com")
        page.fill('[data-field="Customer ID"] input', "C-5")
        status, error, _ = create(page)
        return shown, status, error, page.input_value("#subject"), page.input_value('[data-field="Customer ID"] input')

    before = ticket_count(server)
    shown, status, error, subject, customer_id = await browser.do(unreachable)
    assert "could not be asked" in shown
    assert status == 400 and error.startswith("Cannot connect to the custom field provider"), error
    assert (subject, customer_id) == ("Order went missing", "C-5")
    assert ticket_count(server) == before


async def test_without_script_the_update_button_asks_again(server, browser, desk, form_provider):  # noqa: F811
    sales = define_form_fields(server.runtime)
    await enable_providers(server, form_provider.url, "CustomField")
    page = await browser.new_page(javascript=False)
    await browser.signed_in(server, *AGENT, page=page)

    def update():
        page.goto(server.base_url + NEW)
        before = field_names(page)
        fill_ticket(page, "carol@example.com")
        page.select_option("#department_id", str(sales))
        submit(page, "[data-refresh-fields] button")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "new-ticket-form-no-script.png"), full_page=True)
        return before, field_names(page), options_of(page, "Product"), page.input_value("#subject")

    created_before = ticket_count(server)
    before, after, products, subject = await browser.do(update)
    assert "Order Number" not in before and "Order Number" in after
    assert products == ["Basic", "Pro"] and subject == "Order went missing"
    assert ticket_count(server) == created_before  # the update creates nothing

    def enter_in_the_subject():
        page.goto(server.base_url + NEW)
        fill_ticket(page, "dave@example.com", subject="Enter creates")
        page.eval_on_selector("#new-ticket-form", "f => { f.noValidate = true; }")
        with page.expect_navigation():
            page.press("#subject", "Enter")
        refusals = page.query_selector_all("#create-error, #custom-fields [role=alert]")
        return " ".join(refusal.text_content() for refusal in refusals)

    # Enter creates (or is refused as creating would be), never just updates the fields.
    refusal = await browser.do(enter_in_the_subject)
    assert ticket_count(server) == created_before + 1 or refusal, refusal
