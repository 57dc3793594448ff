<%@ WebService Language="C#" Class="Example.Providers.Provider" %>
