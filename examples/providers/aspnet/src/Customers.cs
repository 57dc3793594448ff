// The customers this sample knows, from an XML file in App_Data (ASP.NET
// never serves that folder). A real provider would ask its own user
// database or directory here instead.
//
//   <customers>
//     <customer name="alice" passwordHash="pbkdf2-sha256$..." email="alice@example.com"
//               displayName="Alice Example">
//       <customField name="Plan">Gold</customField>   (StartTicket fills these in)
//     </customer>
//   </customers>
using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Xml;

namespace Example.Providers
{
    public sealed class Customer
    {
        public string Name;
        public string PasswordHash;
        public string Email;
        public string DisplayName;
        public List<KeyValuePair<string, string>> CustomFields = new List<KeyValuePair<string, string>>();
    }

    public sealed class Customers
    {
        readonly List<Customer> all = new List<Customer>();

        public static Customers Load(string path)
        {
            var document = new XmlDocument();
            document.Load(path);
            var customers = new Customers();
            foreach (XmlElement element in document.SelectNodes("/customers/customer")) {
                var customer = new Customer {
                    Name = Required(element, "name", path),
                    PasswordHash = Required(element, "passwordHash", path),
                    Email = element.GetAttribute("email"),
                    DisplayName = element.GetAttribute("displayName"),
                };
                if (!PasswordHashing.IsWellFormed(customer.PasswordHash))
                    throw new FormatException(string.Format(
                        "{0}: customer {1}: passwordHash is not a hash made by HashPassword.exe", path, customer.Name));
                foreach (XmlElement field in element.SelectNodes("customField"))
                    customer.CustomFields.Add(new KeyValuePair<string, string>(
                        Required(field, "name", path), field.InnerText));
                customers.all.Add(customer);
            }
            return customers;
        }

        static string Required(XmlElement element, string attribute, string path)
        {
            string value = element.GetAttribute(attribute);
            if (string.IsNullOrEmpty(value))
                throw new FormatException(string.Format("{0}: a <{1}> without {2}", path, element.Name, attribute));
            return value;
        }

        /// <summary>The customer with this user name or, failing that, this
        /// address (both compared without regard to case); null if none.</summary>
        public Customer Find(string name, string email)
        {
            var ignoringCase = StringComparer.OrdinalIgnoreCase;
            if (!string.IsNullOrEmpty(name))
                foreach (var customer in all)
                    if (ignoringCase.Equals(customer.Name, name))
                        return customer;
            if (!string.IsNullOrEmpty(email))
                foreach (var customer in all)
                    if (ignoringCase.Equals(customer.Email, email))
                        return customer;
            return null;
        }
    }

    /// <summary>Passwords are kept only as salted PBKDF2-HMAC-SHA256 hashes:
    /// pbkdf2-sha256$iterations$salt$hash (salt and hash in base64). The
    /// iteration count is stored with each hash: raise Iterations for new
    /// hashes and old ones still verify. (50,000 take about half a second
    /// under Mono, whose SHA-256 is managed code; a sign-in waits for it.)</summary>
    public static class PasswordHashing
    {
        const string Scheme = "pbkdf2-sha256";
        const int Iterations = 50000;

        public static string Hash(string password)
        {
            var salt = new byte[16];
            using (var random = RandomNumberGenerator.Create())
                random.GetBytes(salt);
            return string.Join("$", Scheme, Iterations.ToString(), Convert.ToBase64String(salt),
                               Convert.ToBase64String(Derive(password, salt, Iterations)));
        }

        public static bool IsWellFormed(string stored)
        {
            string[] parts = stored.Split('$');
            int iterations;
            return parts.Length == 4 && parts[0] == Scheme && int.TryParse(parts[1], out iterations) && iterations > 0;
        }

        public static bool Verify(string password, string stored)
        {
            string[] parts = stored.Split('$');
            byte[] expected = Convert.FromBase64String(parts[3]);
            byte[] actual = Derive(password, Convert.FromBase64String(parts[2]), int.Parse(parts[1]));
            return FixedTime.Equal(actual, expected);
        }

        static byte[] Derive(string password, byte[] salt, int iterations)
        {
            using (var pbkdf2 = new Rfc2898DeriveBytes(password, salt, iterations, HashAlgorithmName.SHA256))
                return pbkdf2.GetBytes(32);
        }
    }

    /// <summary>Comparisons whose time does not tell how much matched.</summary>
    public static class FixedTime
    {
        public static bool Equal(byte[] a, byte[] b)
        {
            if (a.Length != b.Length)
                return false;
            int difference = 0;
            for (int i = 0; i < a.Length; i++)
                difference |= a[i] ^ b[i];
            return difference == 0;
        }

        public static bool Equal(string a, string b)
        {
            var encoding = System.Text.Encoding.UTF8;
            return a != null && b != null && Equal(encoding.GetBytes(a), encoding.GetBytes(b));
        }
    }
}
