// The types of the external provider contract, named and shaped as in
// SmarterTrack's connector (SmarterTrack.Connector.dll): one parameter
// "inputs" with a list of Key=Value strings, one result with Success,
// Message and a list of Key=Value strings. ASP.NET's XmlSerializer renders
// List<string> as ArrayOfString, exactly as SmarterTrack expects.
using System.Collections.Generic;

namespace Example.Providers
{
    public class ExternalLoginProviderInputs
    {
        public List<string> InputVariables = new List<string>();
    }

    public class ExternalLoginProviderResult
    {
        public bool Success;
        public string Message;
        public List<string> OutputVariables = new List<string>();
    }

    public class ExternalTicketProviderInputs
    {
        public List<string> InputVariables = new List<string>();
    }

    public class ExternalTicketProviderResult
    {
        public bool Success;
        public string Message;
        public List<string> OutputVariables = new List<string>();
    }
}
