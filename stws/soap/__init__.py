"""SOAP plumbing shared by every .asmx service: ASMX-shaped types and WSDL,
hardened protocols, the operation decorator and the Twisted hosting."""
