// Shared support for the interop scenarios; tests/interop/dotnet.py compiles
// it into every scenario program.
//
// A scenario's Main returns Scenario.Run(args, "usage", n, body): body gets
// the command line (args[0] = service URL, args[1], args[2] = user and
// password, then any extra arguments), calls Check / Succeeded / Ok (and
// Property, to read a Key=Value item), and returns normally. The output is
// what dotnet.py parses:
//   OK <Operation> key=value ...   for each step (values without spaces)
//   DONE                           at the end, exit code 0
//   FAIL <what>                    on an unexpected value, exit code 1
//   ERROR <exception>              on an exception, exit code 2
using System;
using System.Linq;
using System.Text;

public class CheckFailed : Exception
{
    public CheckFailed(string message) : base(message) { }
}

public static class Scenario
{
    public static void Check(bool condition, string what)
    {
        if (!condition)
            throw new CheckFailed(what);
    }

    // The Result / ResultCode / Message trio of a successful call.
    public static void Succeeded(string operation, bool result, int code, string message)
    {
        Check(result, operation + ": Result=false ResultCode=" + code + " Message=" + message);
        Check(code == 0, operation + ": ResultCode=" + code + " Message=" + message);
    }

    // The value of key in "Key=Value" items (RequestResults; null = none);
    // a missing key fails the scenario.
    public static string Property(string[] items, string key, bool ignoreCase = false)
    {
        string prefix = key + "=";
        items = items ?? new string[0];
        StringComparison comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        string item = items.FirstOrDefault(i => i.StartsWith(prefix, comparison));
        Check(item != null, "no " + key + " in [" + string.Join(", ", items) + "]");
        return item.Substring(prefix.Length);
    }

    // Ok("CreateUser", "id", 2) prints "OK CreateUser id=2".
    public static void Ok(string operation, params object[] keysAndValues)
    {
        var line = new StringBuilder("OK ").Append(operation);
        for (int i = 0; i + 1 < keysAndValues.Length; i += 2) {
            string value = Convert.ToString(keysAndValues[i + 1], System.Globalization.CultureInfo.InvariantCulture);
            Check(value.IndexOf(' ') < 0, "Ok(): value with a space: " + value);
            line.Append(' ').Append(keysAndValues[i]).Append('=').Append(value);
        }
        Console.WriteLine(line.ToString());
    }

    public static int Run(string[] args, string usage, int minArgs, Action<string[]> body)
    {
        if (args.Length < minArgs) {
            Console.Error.WriteLine("usage: " + usage);
            return Exit(64);
        }
        try {
            body(args);
            Console.WriteLine("DONE");
            return Exit(0);
        } catch (CheckFailed failure) {
            Console.WriteLine("FAIL " + failure.Message);
            return Exit(1);
        } catch (Exception error) {
            Console.WriteLine("ERROR " + error);
            return Exit(2);
        }
    }

    // Mono 6.8 waits at shutdown for idle thread-pool workers, which park
    // for a random 5 to 60 seconds (mono/mono#9000, PR #9042 not merged);
    // HttpWebRequest's keep-alive reads leave one behind. Environment.Exit
    // suspends those threads instead of waiting for them.
    static int Exit(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        Environment.Exit(code);
        return code;
    }
}
