"""The one failure of an outbound SOAP call: result code 9 with a Message a
person can act on, and a ``kind`` for callers that react differently (a
provider test page says "unreachable" or "SOAP fault")."""
from __future__ import annotations

from enum import Enum

from stws.errors import OperationError, ResultCode


class FailureKind(str, Enum):
    UNREACHABLE = "unreachable"          # connection refused, no route, unknown host
    TIMEOUT = "timeout"                  # no (complete) answer within the call's timeout
    HTML = "html"                        # a web page instead of SOAP (wrong URL, ASP.NET error page)
    MALFORMED = "malformed"              # not well-formed XML
    FAULT = "fault"                      # a SOAP fault; the message carries its faultstring
    MISSING_OPERATION = "missing-operation"  # the peer's WSDL lacks the method
    BAD_WSDL = "bad-wsdl"                # the WSDL cannot be read as one
    UNEXPECTED_ANSWER = "unexpected-answer"  # well-formed, but not what the WSDL declares
    TOO_LARGE = "too-large"              # the answer exceeded the size cap
    HTTP_STATUS = "http-status"          # an HTTP error status without a SOAP body
    CIRCUIT_OPEN = "circuit-open"        # not called: the peer failed repeatedly just now
    BUDGET = "budget"                    # a sequence of calls ran out of its overall time
    REFUSED = "refused"                  # the peer answered and said no (Result=false)


class RemoteFailure(OperationError):
    """Another server (transfer target, provider) failed; result code 9."""

    code = ResultCode.REMOTE_FAILURE

    def __init__(self, message: str, kind: FailureKind = FailureKind.REFUSED):
        super().__init__(message)
        self.kind = kind
