// Shared support for the scenarios that call a service through a `wsdl`
// proxy (SoapHttpClientProtocol); tests/interop/dotnet.py compiles it, with
// Scenario.cs, into every ASMX scenario (not the WCF ones: they do not
// reference System.Web.Services).
using System.Web.Services.Protocols;

public static class AsmxProxy
{
    // The proxy pointed at the server under test (scenarios take its URL as
    // an argument: the proxy may come from another test's server), with a
    // one-minute timeout, after an "OK Proxy soapVersion=..." line saying
    // which SOAP version it speaks.
    public static T Connect<T>(T proxy, string url) where T : SoapHttpClientProtocol
    {
        proxy.Url = url;
        proxy.Timeout = 60000;
        Scenario.Ok("Proxy", "soapVersion", proxy.SoapVersion);
        return proxy;
    }
}
