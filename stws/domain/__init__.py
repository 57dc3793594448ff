"""Domain logic: what each operation does, independent of SOAP or HTML."""
