"""Business failures, reported in-band as Result=false + ResultCode + Message.

The codes are part of the public contract (README, "Result codes"); a
client can branch on them. Never renumber; only add.
"""
from __future__ import annotations

from enum import IntEnum


class ResultCode(IntEnum):
    OK = 0
    AUTHENTICATION_FAILED = 1   # unknown user or wrong password
    ACCOUNT_LOCKED = 2          # locked by an administrator or after repeated failures
    PERMISSION_DENIED = 3       # the account lacks the role the operation needs
    INVALID_ARGUMENT = 4        # a parameter is missing, malformed or out of range
    NOT_FOUND = 5               # the id, number or name does not exist
    ALREADY_EXISTS = 6          # a unique name or username is taken
    INVALID_STATE = 7           # e.g. a closed-and-locked ticket cannot change
    TOO_LARGE = 8               # an attachment or value exceeds its limit
    REMOTE_FAILURE = 9          # another server (transfer target, provider) failed
    IN_USE = 10                 # the item is still referenced and cannot be removed


class OperationError(Exception):
    """An expected failure of an operation; the transaction is rolled back."""

    code = ResultCode.INVALID_ARGUMENT

    def __init__(self, message: str, code: ResultCode | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgument(OperationError):
    code = ResultCode.INVALID_ARGUMENT


class NotFound(OperationError):
    code = ResultCode.NOT_FOUND


class AlreadyExists(OperationError):
    code = ResultCode.ALREADY_EXISTS


class InvalidState(OperationError):
    code = ResultCode.INVALID_STATE


class InUse(OperationError):
    code = ResultCode.IN_USE


class PermissionDenied(OperationError):
    code = ResultCode.PERMISSION_DENIED


class AuthenticationFailed(OperationError):
    code = ResultCode.AUTHENTICATION_FAILED

    def __init__(self, message: str, user_id: int | None = None):
        super().__init__(message)
        # The account whose failure counter this attempt increments, if any.
        self.user_id = user_id


class AccountLocked(OperationError):
    code = ResultCode.ACCOUNT_LOCKED
