// The binding a WCF client of an ASMX service uses, shared by the WCF
// scenarios (tests/interop/dotnet.py compiles it into each of them).
//
// soap11 uses BasicHttpBinding; soap12 a CustomBinding with SOAP 1.2 text
// encoding and no WS-Addressing, which is what a WCF client of an ASMX
// service's ...Soap12 endpoint uses.
using System;
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.Text;
using static Scenario;

public static class WcfBinding
{
    // "soap11" (the default when mode is null) or "soap12".
    public static Binding Make(string mode)
    {
        mode = mode ?? "soap11";
        Check(mode == "soap11" || mode == "soap12", "binding must be soap11 or soap12, not " + mode);
        Binding binding;
        if (mode == "soap12") {
            var transport = new HttpTransportBindingElement();
            transport.MaxReceivedMessageSize = 4 * 1024 * 1024;
            binding = new CustomBinding(new TextMessageEncodingBindingElement(MessageVersion.Soap12, Encoding.UTF8),
                                        transport);
        } else {
            var basic = new BasicHttpBinding();
            basic.MaxReceivedMessageSize = 4 * 1024 * 1024;
            binding = basic;
        }
        binding.SendTimeout = binding.ReceiveTimeout = TimeSpan.FromSeconds(60);
        return binding;
    }
}
