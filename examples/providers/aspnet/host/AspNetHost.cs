// A minimal web server for one ASP.NET application under Mono: an
// HttpListener on a loopback (or private) address in front of Mono's own
// ASP.NET runtime (System.Web.Hosting.ApplicationHost). It exists because
// Debian 12's xsp4 does not start (TypeLoadException on a Mono.Security TLS
// type); it serves .asmx web services, which is all a provider needs, and
// nothing about it is specific to one provider: point it at any ASP.NET
// application directory with its compiled code in bin/.
//
//   mono AspNetHost.exe --listen 127.0.0.1:8801 [--listen localhost:8801 ...] [--root /path/to/site]
//
// HttpListener answers only requests whose Host header names one of the
// --listen addresses (others get 400): give one --listen per name the
// help desk uses in the provider's URL.
//
// The site's bin/ must hold a copy of AspNetHost.exe: ApplicationHost starts
// the application in an AppDomain of its own, whose assemblies come from
// bin/, and loads the request-processing half of this program (RequestRunner)
// there. Requests cross between the two domains as plain serializable data
// (HttpRequestData / HttpResponseData), so when ASP.NET recycles its domain
// (a changed Web.config or bin/) the listener simply makes a new one.
//
// Prints "Listening on http://HOST:PORT/" (one line per --listen) once it
// accepts requests; runs until SIGINT/SIGTERM.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Web;
using System.Web.Hosting;

namespace Stws.AspNetHost
{
    public static class Program
    {
        public static int Main(string[] args)
        {
            var listen = new List<string>();
            string root = null;
            for (int i = 0; i < args.Length; i++) {
                if (args[i] == "--listen" && i + 1 < args.Length) listen.Add(args[++i]);
                else if (args[i] == "--root" && i + 1 < args.Length) root = args[++i];
                else return Usage("unknown argument: " + args[i]);
            }
            if (listen.Count == 0) return Usage("--listen HOST:PORT is required");
            if (root == null) {
                // The default site is the one whose bin/ holds this program.
                string bin = Path.GetDirectoryName(typeof(Program).Assembly.Location);
                root = Path.GetDirectoryName(bin);
            }
            root = Path.GetFullPath(root);
            if (!File.Exists(Path.Combine(Path.Combine(root, "bin"), "AspNetHost.exe")))
                return Usage("no bin/AspNetHost.exe under " + root + " (ASP.NET loads the host from the site's bin/)");

            var prefixes = new List<string>();
            foreach (string address in listen) {
                int colon = address.LastIndexOf(':');
                int port;
                if (colon <= 0 || !int.TryParse(address.Substring(colon + 1), out port) || port < 0 || port > 65535)
                    return Usage("--listen wants HOST:PORT, e.g. 127.0.0.1:8801; got " + address);
                string host = address.Substring(0, colon);
                if (port == 0) {
                    IPAddress ip;
                    if (!IPAddress.TryParse(host, out ip))
                        return Usage("port 0 (a free port) needs an IP address, not " + host);
                    port = FreePort(ip);
                }
                prefixes.Add(string.Format("http://{0}:{1}/", host, port));
            }

            var server = new Server(root, prefixes);
            try {
                server.Start();
            } catch (Exception error) when (error is HttpListenerException || error is SocketException) {
                Console.Error.WriteLine("AspNetHost: cannot listen on {0}: {1}",
                                        string.Join(", ", prefixes), error.Message);
                return 1;
            }
            foreach (string prefix in prefixes)
                Console.WriteLine("Listening on " + prefix);
            Console.Out.Flush();
            // Serve until the process is ended: SIGTERM's and Ctrl-C's default
            // action ends it, which is what a service manager or a test wants
            // (Mono.Posix's UnixSignal would be one more package for nothing).
            Thread.Sleep(Timeout.Infinite);
            return 0;
        }

        static int Usage(string problem)
        {
            Console.Error.WriteLine("AspNetHost: " + problem);
            Console.Error.WriteLine("usage: mono AspNetHost.exe --listen HOST:PORT [--listen HOST:PORT...] "
                                    + "[--root SITE_DIRECTORY]");
            return 2;
        }

        // HttpListener needs a concrete port; ask the system for a free one.
        static int FreePort(IPAddress address)
        {
            var probe = new TcpListener(address, 0);
            probe.Start();
            int port = ((IPEndPoint) probe.LocalEndpoint).Port;
            probe.Stop();
            return port;
        }

    }

    /// <summary>Accepts requests and hands each to ASP.NET's domain.</summary>
    sealed class Server
    {
        readonly string root;
        readonly HttpListener listener = new HttpListener();
        readonly object gate = new object();
        RequestRunner runner;

        public Server(string root, IEnumerable<string> prefixes)
        {
            this.root = root;
            foreach (string prefix in prefixes)
                listener.Prefixes.Add(prefix);
            listener.IgnoreWriteExceptions = true;
        }

        public void Start()
        {
            Runner();  // make the application's domain now: a site ASP.NET cannot load fails at start
            listener.Start();
            var accepting = new Thread(Accept) { IsBackground = true, Name = "accept" };
            accepting.Start();
        }

        RequestRunner Runner()
        {
            lock (gate) {
                if (runner == null)
                    runner = (RequestRunner) ApplicationHost.CreateApplicationHost(typeof(RequestRunner), "/", root);
                return runner;
            }
        }

        void Accept()
        {
            while (listener.IsListening) {
                HttpListenerContext context;
                try {
                    context = listener.GetContext();
                } catch (HttpListenerException) {
                    return;  // closed
                } catch (ObjectDisposedException) {
                    return;
                }
                ThreadPool.QueueUserWorkItem(Serve, context);
            }
        }

        void Serve(object state)
        {
            var context = (HttpListenerContext) state;
            try {
                HttpRequestData request = HttpRequestData.From(context.Request);
                HttpResponseData response;
                RequestRunner used = Runner();
                try {
                    response = used.Process(request);
                } catch (AppDomainUnloadedException) {
                    // ASP.NET recycled its domain (e.g. Web.config changed): start it again,
                    // once, however many requests found it gone.
                    lock (gate) {
                        if (runner == used) {
                            Console.Error.WriteLine("AspNetHost: the application was unloaded; starting it again");
                            runner = null;
                        }
                    }
                    response = Runner().Process(request);
                }
                response.WriteTo(context.Response);
            } catch (Exception error) {
                Console.Error.WriteLine("AspNetHost: request failed: " + error);
                try {
                    context.Response.StatusCode = 500;
                    context.Response.Close();
                } catch (Exception) {
                }
            }
        }
    }

    /// <summary>One request, as it crosses into ASP.NET's domain.</summary>
    [Serializable]
    public sealed class HttpRequestData
    {
        public string Method;
        public string Path;          // decoded URL path, e.g. /Provider.asmx
        public string Query;         // without '?'
        public string RawUrl;
        public string Protocol;      // HTTP/1.1
        public string[] HeaderNames;
        public string[] HeaderValues;
        public byte[] Body;
        public string RemoteAddress;
        public int RemotePort;
        public string LocalAddress;
        public int LocalPort;

        public static HttpRequestData From(HttpListenerRequest request)
        {
            var data = new HttpRequestData();
            data.Method = request.HttpMethod;
            data.Path = request.Url.AbsolutePath;
            data.Query = request.Url.Query.TrimStart('?');
            data.RawUrl = request.RawUrl;
            data.Protocol = "HTTP/" + request.ProtocolVersion.ToString(2);
            var headers = request.Headers;
            data.HeaderNames = new string[headers.Count];
            data.HeaderValues = new string[headers.Count];
            for (int i = 0; i < headers.Count; i++) {
                data.HeaderNames[i] = headers.GetKey(i);
                data.HeaderValues[i] = headers.Get(i);
            }
            using (var body = new MemoryStream()) {
                if (request.HasEntityBody)
                    request.InputStream.CopyTo(body);
                data.Body = body.ToArray();
            }
            data.RemoteAddress = request.RemoteEndPoint.Address.ToString();
            data.RemotePort = request.RemoteEndPoint.Port;
            data.LocalAddress = request.LocalEndPoint.Address.ToString();
            data.LocalPort = request.LocalEndPoint.Port;
            return data;
        }
    }

    /// <summary>ASP.NET's answer, as it crosses back.</summary>
    [Serializable]
    public sealed class HttpResponseData
    {
        public int Status = 200;
        public string StatusDescription = "OK";
        public List<string> HeaderNames = new List<string>();
        public List<string> HeaderValues = new List<string>();
        public byte[] Body;

        public void WriteTo(HttpListenerResponse response)
        {
            response.StatusCode = Status;
            response.StatusDescription = StatusDescription;
            for (int i = 0; i < HeaderNames.Count; i++) {
                string name = HeaderNames[i], value = HeaderValues[i];
                // HttpListener writes these itself from what it sends.
                if (Is(name, "Content-Length") || Is(name, "Transfer-Encoding") || Is(name, "Connection")
                    || Is(name, "Keep-Alive") || Is(name, "Server") || Is(name, "Date"))
                    continue;
                if (Is(name, "Content-Type"))
                    response.ContentType = value;
                else
                    response.AddHeader(name, value);
            }
            response.ContentLength64 = Body.Length;
            response.OutputStream.Write(Body, 0, Body.Length);
            response.Close();
        }

        static bool Is(string name, string wanted)
        {
            return string.Equals(name, wanted, StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>Lives in ASP.NET's application domain; runs each request
    /// through HttpRuntime and waits for its end.</summary>
    public sealed class RequestRunner : MarshalByRefObject
    {
        public HttpResponseData Process(HttpRequestData request)
        {
            var worker = new ListenerWorkerRequest(request);
            HttpRuntime.ProcessRequest(worker);
            return worker.WaitForResponse();
        }

        // Live as long as the application: no remoting lease expiry.
        public override object InitializeLifetimeService()
        {
            return null;
        }
    }

    /// <summary>The request as ASP.NET reads it (method, path, query,
    /// headers incl. SOAPAction and Content-Type, the POST body) and the
    /// response as it writes it (status, headers, body).</summary>
    public sealed class ListenerWorkerRequest : SimpleWorkerRequest
    {
        readonly HttpRequestData request;
        readonly HttpResponseData response = new HttpResponseData();
        readonly MemoryStream body = new MemoryStream();
        readonly ManualResetEvent ended = new ManualResetEvent(false);
        readonly string[] knownHeaders = new string[RequestHeaderMaximum];
        readonly List<string[]> unknownHeaders = new List<string[]>();

        public ListenerWorkerRequest(HttpRequestData request)
            : base(AppRelative(request.Path), request.Query, TextWriter.Null)
        {
            this.request = request;
            for (int i = 0; i < request.HeaderNames.Length; i++) {
                int known = GetKnownRequestHeaderIndex(request.HeaderNames[i]);
                if (known >= 0)
                    knownHeaders[known] = request.HeaderValues[i];
                else
                    unknownHeaders.Add(new[] { request.HeaderNames[i], request.HeaderValues[i] });
            }
        }

        // SimpleWorkerRequest wants the page relative to the application ("/").
        static string AppRelative(string path)
        {
            return path.TrimStart('/');
        }

        public HttpResponseData WaitForResponse()
        {
            ended.WaitOne();
            response.Body = body.ToArray();
            return response;
        }

        // ---- request

        public override string GetHttpVerbName() { return request.Method; }
        public override string GetHttpVersion() { return request.Protocol; }
        public override string GetRawUrl() { return request.RawUrl; }
        public override string GetUriPath() { return request.Path; }
        public override string GetQueryString() { return request.Query; }
        public override string GetRemoteAddress() { return request.RemoteAddress; }
        public override int GetRemotePort() { return request.RemotePort; }
        public override string GetLocalAddress() { return request.LocalAddress; }
        public override int GetLocalPort() { return request.LocalPort; }
        public override string GetProtocol() { return "http"; }

        public override string GetServerName()
        {
            string host = knownHeaders[HeaderHost];
            if (string.IsNullOrEmpty(host)) return request.LocalAddress;
            int colon = host.LastIndexOf(':');
            return colon > 0 && host.IndexOf(']') < colon ? host.Substring(0, colon) : host;
        }

        public override string GetKnownRequestHeader(int index)
        {
            return knownHeaders[index];
        }

        public override string GetUnknownRequestHeader(string name)
        {
            foreach (var header in unknownHeaders)
                if (string.Equals(header[0], name, StringComparison.OrdinalIgnoreCase))
                    return header[1];
            return null;
        }

        public override string[][] GetUnknownRequestHeaders()
        {
            return unknownHeaders.ToArray();
        }

        public override byte[] GetPreloadedEntityBody() { return request.Body; }
        public override bool IsEntireEntityBodyIsPreloaded() { return true; }
        public override int ReadEntityBody(byte[] buffer, int size) { return 0; }

        // ---- response

        public override void SendStatus(int statusCode, string statusDescription)
        {
            response.Status = statusCode;
            response.StatusDescription = statusDescription;
        }

        public override void SendKnownResponseHeader(int index, string value)
        {
            SendUnknownResponseHeader(GetKnownResponseHeaderName(index), value);
        }

        public override void SendUnknownResponseHeader(string name, string value)
        {
            response.HeaderNames.Add(name);
            response.HeaderValues.Add(value);
        }

        public override void SendResponseFromMemory(byte[] data, int length)
        {
            body.Write(data, 0, length);
        }

        public override void SendResponseFromFile(string filename, long offset, long length)
        {
            using (var file = File.OpenRead(filename)) {
                file.Seek(offset, SeekOrigin.Begin);
                var buffer = new byte[64 * 1024];
                long left = length < 0 ? file.Length - offset : length;
                while (left > 0) {
                    int read = file.Read(buffer, 0, (int) Math.Min(buffer.Length, left));
                    if (read <= 0) break;
                    body.Write(buffer, 0, read);
                    left -= read;
                }
            }
        }

        public override void SendResponseFromFile(IntPtr handle, long offset, long length)
        {
            throw new NotSupportedException("responses from file handles");
        }

        public override void FlushResponse(bool finalFlush) { }

        public override void EndOfRequest()
        {
            ended.Set();
        }
    }
}
