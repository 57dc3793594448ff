"""The ticket operations, one module per area (svcTickets' service modules
mirror them): declared once, for SOAP and the agents' browser workspace alike.

They return plain values (domain rows, dataclasses, lists, strings, ints);
each front door turns them into what its clients read. Hot paths
(ticket_info, search_tickets, create_ticket_from_customer) return the rows
and numbers of stws.domain.tickets' prebuilt statements, converted once by
the front door.

Arguments come in the order of the SOAP operation's parameters, which a
binding passes on positionally; a SOAP variant that only adds trailing
parameters (a date, a user) binds the same operation, whose trailing
arguments are optional. Where the SOAP operation has no docstring of its
own, the body has none either (the WSDL would take it; tests/test_wsdl.py):
a comment says what it does.
"""
