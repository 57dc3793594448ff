"""Registers ``twistd stws`` (this folder is put on sys.path by the install)."""
from twisted.application.service import ServiceMaker

stws = ServiceMaker(
    "stws",
    "stws.twistd",
    "Help desk server with SmarterTrack-compatible SOAP web services",
    "stws",
)
