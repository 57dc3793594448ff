"""The ticket operations, one module per area (svcTickets' service modules
mirror them): declared once, for SOAP and the agents' browser workspace alike.

They return plain values (domain rows, dataclasses, lists, strings, ints);
each front door turns them into what its clients read.
"""
