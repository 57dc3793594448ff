"""svcExternalProviders.asmx: the external providers' settings and a test
call, for administrators; the user information provider's answer about a
ticket's customer, for agents (stws.operations.providers). Not a SmarterTrack
service; it follows the same conventions (auth first, Result/ResultCode/
Message, Key=Value arrays, all or nothing)."""
from __future__ import annotations

from spyne import ServiceBase

from stws.errors import ResultCode
from stws.providers.gateway import encode_item
from stws.operations import providers
from stws.services.diagnostics import NEVER
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, TypeFactory, When, service_namespace

SERVICE_NAME = "svcExternalProviders"
T = TypeFactory(service_namespace(SERVICE_NAME))

TestProviderResult = T.result("TestProviderResult", Detail=String, ElapsedMs=Int, IsReachable=Bool,
                              PasswordAccepted=Bool)
EventsOutboxStatusResult = T.result(
    "EventsOutboxStatusResult", DeliveredSinceStart=Long, FailingCount=Int, IsProviderEnabled=Bool,
    LastError=String, LastErrorUtc=When, OldestPendingAgeSeconds=Long, OldestPendingUtc=When, PendingCount=Int,
    ProviderRetryUtc=When)


class ExternalProvidersService(ServiceBase):
    __service_name__ = SERVICE_NAME

    @binds(providers.provider_settings, returns=T.SettingsRequestResult)
    def GetProviderSettings(items):
        """Every provider's settings as Key=Value, keys <Provider>.<Key> for
        the providers Login, Registration, CustomField, Ticket, LiveChat,
        UserInformation and Events: Enabled, Mode (BuiltIn or WebService),
        WebServiceUrl, HasWebServicePassword, TimeoutSeconds; Login also
        ForgotPasswordUrl, CustomLoginUrl, DefaultRole, MarkEmailVerified,
        EnableSingleSignOnCookies, HasSingleSignOnSecret. Passwords are never
        returned."""
        return {"RequestResults": items}

    @binds(providers.set_provider_settings, ("settingValues", ArrayOfString), returns=T.GenericResult)
    def SetProviderSettings(changed):
        """Set settings (Key=Value, all or nothing). Besides the keys
        GetProviderSettings returns, <Provider>.WebServicePassword and
        Login.SingleSignOnSecret (write-only; empty clears). URLs must be
        absolute http:// or https://; TimeoutSeconds 1 to 120 (default 10);
        DefaultRole Registered Users (default), Registered Users with Verified
        Email or Everyone (also: registered, anonymous); a provider enabled in
        WebService mode needs a WebServiceUrl.

        Where they act. Login: Authenticate(loginUsername, loginPassword)
        checks accounts whose AuthenticationMethod is External and user names
        no account has (password accounts never); Authentication=OK creates or
        links the account from EmailAddress and DisplayName with DefaultRole,
        FAIL counts towards the lockout; GetSignInCookieInfo(loginUsername)
        confirms the user of a single sign-on cookie (stws_sso:
        user|expiry|hex HMAC-SHA256(SingleSignOnSecret, user|expiry)).
        Registration: Register(loginUsername, emailAddress, displayName) is
        asked before CreateUser creates an account; Registration=REFUSED
        refuses it (ResultCode 4, the provider's Message), OK may give the
        DisplayName and EmailAddress to store. A provider that is down:
        ResultCode 9, nothing created."""
        return {"Message": "Changed: %s." % ", ".join(changed)}

    @binds(providers.test_provider, ("providerName", String), returns=TestProviderResult)
    def TestProvider(test):
        """Call the provider (Login, Registration, CustomField, Ticket,
        LiveChat, UserInformation or Events) at its Web Service URL with its
        password and an input that changes nothing: each method is called with
        authPW only (Authenticate also with an empty loginUsername and
        loginPassword), so it can check the password but has nothing to act on.
        Result=true when it answered and accepted the password. Otherwise
        Result=false, ResultCode 9, and IsReachable says whether anything
        answered (false: refused connection, timeout), PasswordAccepted whether
        the password was accepted (false also when it did not answer). ElapsedMs
        is the call's duration, Detail what was called and answered. A provider
        without a URL: ResultCode 7; an unknown name: ResultCode 5."""
        return TestProviderResult(
            Result=test.passed, ResultCode=int(ResultCode.OK if test.passed else ResultCode.REMOTE_FAILURE),
            Message=test.message, IsReachable=test.is_reachable, PasswordAccepted=test.password_accepted,
            ElapsedMs=test.elapsed_ms, Detail=test.detail)

    @binds(providers.ticket_user_information, ("ticketNumber", String), returns=T.SettingsRequestResult)
    def GetTicketUserInformation(information):
        """What the user information provider (GetUserInformation) says of the
        customer of the ticket ``ticketNumber``, asked with the customer's
        loginUsername (if the customer has an account) and emailAddress:
        RequestResults holds its OutputVariables as Key=Value, in its order
        (an = in a key doubled, as providers encode them), Message its
        Message. Answers are kept 60 seconds per customer. For agents who may
        see the ticket (others: ResultCode 3 or, for a ticket they may not
        see, 5). The provider off: Result=true, no RequestResults and a
        Message saying so; the provider unreachable or refusing the Web
        Service Password: ResultCode 9."""
        return {"RequestResults": [encode_item(key, value) for key, value in information.pairs],
                "Message": information.message}

    @binds(providers.events_outbox_status, returns=EventsOutboxStatusResult)
    def GetEventsOutboxStatus(status):
        """The events provider's outbox: PendingCount events not delivered yet
        (they stay, also while the provider is disabled or unreachable),
        FailingCount of them whose delivery failed at least once, the oldest
        pending event's time (OldestPendingUtc, OldestPendingAgeSeconds), the
        last failed delivery's LastError and LastErrorUtc, DeliveredSinceStart
        (by this server since it started), IsProviderEnabled, and
        ProviderRetryUtc when this server found the provider unreachable and
        waits before trying again. Never-happened times are
        0001-01-01T00:00:00Z."""
        return EventsOutboxStatusResult(
            Result=True, ResultCode=int(ResultCode.OK), Message="%d pending, %d failing." % (
                status.pending, status.failing),
            DeliveredSinceStart=status.delivered_since_start, FailingCount=status.failing,
            IsProviderEnabled=status.provider_enabled, LastError=status.last_error,
            LastErrorUtc=status.last_error_utc or NEVER, OldestPendingAgeSeconds=status.oldest_age_seconds,
            OldestPendingUtc=status.oldest_utc or NEVER, PendingCount=status.pending,
            ProviderRetryUtc=status.provider_retry_utc or NEVER)
