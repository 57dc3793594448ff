"""The operations: everything a user (or the server itself) can do, each
declared once with the role it needs and whether it writes, and run by one
runner for whichever front door asks (SOAP, the management interface, the
background threads, the email importer). See ``runner``."""
