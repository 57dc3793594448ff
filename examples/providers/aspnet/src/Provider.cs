// A login and ticket provider written the way a SmarterTrack customer
// writes one: an ASP.NET .asmx web service whose [WebMethod]s take and
// return the connector's types. stws calls it unchanged; so would
// SmarterTrack.
//
// Every call carries authPW, the "Web Services Password" configured in the
// help desk; a wrong one gets Success=false, Message="Permission Denied"
// (SmarterTrack's sample wording), as does a missing required input
// ("Missing input: ..."). Otherwise Success=true and the decision is in the
// OutputVariables: a wrong user password is Authentication=FAIL, a refused
// ticket TicketCreation=FALSE with the reason in Message.
//
// Its rules come from Web.config's appSettings (Provider.*) and the
// customers from App_Data/customers.xml; both are read once per start of
// the application (ASP.NET restarts it when Web.config changes).
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using System.Web.Configuration;
using System.Web.Hosting;
using System.Web.Services;

namespace Example.Providers
{
    // Our own namespace, not tempuri.org: the help desk reads it from the WSDL.
    [WebService(Namespace = "http://providers.example.com/helpdesk/",
                Description = "Login and ticket provider for SmarterTrack and stws.")]
    [WebServiceBinding(ConformsTo = WsiProfiles.BasicProfile1_1)]
    public class Provider : WebService
    {
        static readonly Lazy<Rules> rules = new Lazy<Rules>(Rules.FromConfiguration);

        // ---------------------------------------------------- login provider

        [WebMethod(Description = "A user signs in: Authentication=OK with EmailAddress and DisplayName, or FAIL.")]
        public ExternalLoginProviderResult Authenticate(ExternalLoginProviderInputs inputs)
        {
            var result = new ExternalLoginProviderResult();
            var given = KeyValueItems.ToDictionary(inputs == null ? null : inputs.InputVariables);
            string refusal = Refusal(given, "loginUsername", "loginPassword");
            if (refusal != null) {
                result.Message = refusal;
                return result;
            }
            result.Success = true;
            var customer = rules.Value.Customers.Find(given["loginUsername"], null);
            bool signedIn = customer != null && PasswordHashing.Verify(given["loginPassword"], customer.PasswordHash);
            SignInOutputs(result, signedIn ? customer : null);
            return result;
        }

        [WebMethod(Description = "Single sign-on: who is the user another site of ours signed in?")]
        public ExternalLoginProviderResult GetSignInCookieInfo(ExternalLoginProviderInputs inputs)
        {
            var result = new ExternalLoginProviderResult();
            var given = KeyValueItems.ToDictionary(inputs == null ? null : inputs.InputVariables);
            string refusal = Refusal(given, "loginUsername");
            if (refusal != null) {
                result.Message = refusal;
                return result;
            }
            result.Success = true;
            SignInOutputs(result, rules.Value.Customers.Find(given["loginUsername"], null));
            return result;
        }

        static void SignInOutputs(ExternalLoginProviderResult result, Customer customer)
        {
            if (customer == null) {
                result.OutputVariables.Add(KeyValueItems.Encode("Authentication", "FAIL"));
                return;
            }
            result.OutputVariables.Add(KeyValueItems.Encode("Authentication", "OK"));
            result.OutputVariables.Add(KeyValueItems.Encode("EmailAddress", customer.Email));
            result.OutputVariables.Add(KeyValueItems.Encode("DisplayName", customer.DisplayName));
        }

        // ---------------------------------------------------- ticket provider

        [WebMethod(Description = "A ticket is about to be created: TicketCreation=TRUE/FALSE, "
                                 + "departmentName to re-route it, cf_<field> to fill custom fields.")]
        public ExternalTicketProviderResult StartTicket(ExternalTicketProviderInputs inputs)
        {
            var result = new ExternalTicketProviderResult();
            var given = KeyValueItems.ToDictionary(inputs == null ? null : inputs.InputVariables);
            string refusal = Refusal(given, "departmentName");
            if (refusal == null && Value(given, "loginUsername") == "" && Value(given, "emailFrom") == "")
                refusal = "Missing input: loginUsername or emailFrom";
            if (refusal != null) {
                result.Message = refusal;
                return result;
            }
            result.Success = true;
            Rules current = rules.Value;
            var customer = current.Customers.Find(Value(given, "loginUsername"), Value(given, "emailFrom"));
            string sender = Value(given, "emailFrom");
            if (sender == "" && customer != null)
                sender = customer.Email;
            if (current.IsBlocked(sender)) {
                result.Message = current.BlockedMessage;
                result.OutputVariables.Add(KeyValueItems.Encode("TicketCreation", "FALSE"));
                return result;
            }
            result.OutputVariables.Add(KeyValueItems.Encode("TicketCreation", "TRUE"));
            if (customer != null)
                foreach (var field in customer.CustomFields)
                    result.OutputVariables.Add(KeyValueItems.Encode("cf_" + field.Key, field.Value));
            bool inEscalations = string.Equals(given["departmentName"], current.EscalationDepartment,
                                               StringComparison.OrdinalIgnoreCase);
            if (current.Escalates(Value(given, "subject")) && !inEscalations)
                result.OutputVariables.Add(KeyValueItems.Encode("departmentName", current.EscalationDepartment));
            return result;
        }

        // ---------------------------------------------------- common checks

        /// <summary>"Permission Denied" for a missing or wrong authPW,
        /// "Missing input: ..." for empty required inputs, else null.</summary>
        static string Refusal(Dictionary<string, string> given, params string[] required)
        {
            if (!FixedTime.Equal(Value(given, "authPW"), rules.Value.AuthPassword))
                return "Permission Denied";
            var missing = required.Where(key => Value(given, key).Trim() == "").ToArray();
            return missing.Length > 0 ? "Missing input: " + string.Join(", ", missing) : null;
        }

        static string Value(Dictionary<string, string> given, string key)
        {
            string value;
            return given.TryGetValue(key, out value) ? value : "";
        }
    }

    /// <summary>What this provider decides by, from Web.config.</summary>
    sealed class Rules
    {
        public string AuthPassword;
        public Customers Customers;
        public HashSet<string> BlockedDomains;
        public string BlockedMessage;
        public HashSet<string> EscalationKeywords;
        public string EscalationDepartment;

        public static Rules FromConfiguration()
        {
            var settings = WebConfigurationManager.AppSettings;
            string password = settings["Provider.AuthPassword"];
            if (string.IsNullOrEmpty(password))
                throw new InvalidOperationException("Web.config: set appSettings Provider.AuthPassword "
                                                    + "(the help desk's Web Services Password).");
            // "~/..." is in the site; anything else a path of its own.
            string customersFile = settings["Provider.CustomersFile"] ?? "~/App_Data/customers.xml";
            if (customersFile.StartsWith("~/", StringComparison.Ordinal))
                customersFile = HostingEnvironment.MapPath(customersFile);
            return new Rules {
                AuthPassword = password,
                Customers = Customers.Load(customersFile),
                BlockedDomains = List(settings["Provider.BlockedSenderDomains"]),
                BlockedMessage = settings["Provider.BlockedMessage"] ?? "We cannot accept requests from your address.",
                EscalationKeywords = List(settings["Provider.EscalationKeywords"]),
                EscalationDepartment = settings["Provider.EscalationDepartment"] ?? "Escalations",
            };
        }

        static HashSet<string> List(string commaSeparated)
        {
            return new HashSet<string>(
                (commaSeparated ?? "").Split(',').Select(item => item.Trim()).Where(item => item != ""),
                StringComparer.OrdinalIgnoreCase);
        }

        public bool IsBlocked(string address)
        {
            int at = address.LastIndexOf('@');
            return at >= 0 && BlockedDomains.Contains(address.Substring(at + 1).Trim());
        }

        /// <summary>Whether a word of the subject is an escalation keyword.</summary>
        public bool Escalates(string subject)
        {
            return Regex.Matches(subject, @"\w+").Cast<Match>().Any(word => EscalationKeywords.Contains(word.Value));
        }
    }
}
