"""External providers: customers' own SOAP web services that the help desk
calls (login, registration, custom fields, tickets, live chat, user
information, events). settings.py owns their settings; testing.py calls one
with a harmless input (TestProvider, the self-diagnostic)."""
