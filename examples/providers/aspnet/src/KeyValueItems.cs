// Key=Value items as SmarterTrack's StringListConverter writes them: every
// '=' in the key is doubled, and the first single '=' ends the key; the
// value is taken as is. ("cf_Plan=Tier" with "Gold" is "cf_Plan==Tier=Gold".)
using System;
using System.Collections.Generic;
using System.Text;

namespace Example.Providers
{
    public static class KeyValueItems
    {
        public static string Encode(string key, string value)
        {
            return key.Replace("=", "==") + "=" + (value ?? "");
        }

        public static KeyValuePair<string, string> Decode(string item)
        {
            var key = new StringBuilder();
            for (int i = 0; i < item.Length; i++) {
                if (item[i] != '=') {
                    key.Append(item[i]);
                } else if (i + 1 < item.Length && item[i + 1] == '=') {
                    key.Append('=');
                    i++;
                } else {
                    return new KeyValuePair<string, string>(key.ToString(), item.Substring(i + 1));
                }
            }
            return new KeyValuePair<string, string>(key.ToString(), "");  // no separator: an empty value
        }

        /// <summary>The inputs by key, compared without regard to case
        /// (SmarterTrack does not say how it compares them); a repeated key
        /// keeps its first value.</summary>
        public static Dictionary<string, string> ToDictionary(IEnumerable<string> items)
        {
            var inputs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (items == null)
                return inputs;
            foreach (string item in items) {
                if (item == null)
                    continue;
                var pair = Decode(item);
                if (!inputs.ContainsKey(pair.Key))
                    inputs.Add(pair.Key, pair.Value);
            }
            return inputs;
        }
    }
}
