// HashPassword.exe: reads a password (one line from standard input) and
// prints the passwordHash attribute to paste into App_Data/customers.xml.
using System;

namespace Example.Providers
{
    public static class HashPasswordProgram
    {
        public static int Main()
        {
            if (!Console.IsInputRedirected)
                Console.Error.Write("Password: ");
            string password = Console.ReadLine();
            if (string.IsNullOrEmpty(password)) {
                Console.Error.WriteLine("HashPassword: no password given");
                return 2;
            }
            Console.WriteLine("passwordHash=\"{0}\"", PasswordHashing.Hash(password));
            return 0;
        }
    }
}
