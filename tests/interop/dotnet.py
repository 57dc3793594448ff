"""Real .NET clients for the interop tests, made with Mono.

For a service ``svcX``, a test module needs one C# scenario in
``tests/interop/csharp/`` and this module does the rest:

* ``wsdl_proxy``: ``wsdl -n:Stws <url>?WSDL`` (SoapHttpClientProtocol, the
  proxy an ASMX "Web Reference" gives; ``soap12=True`` adds
  ``-protocol:SOAP12``),
* ``svcutil_proxy``: ``svcutil -n:Stws.Wcf <url>?wsdl`` (a WCF ClientBase<T>),
* ``compile_exe``: ``mcs`` over the scenario and the proxy,
* ``run_exe``: ``mono scenario.exe <url> <user> <password> ...``, parsing the
  ``OK <Operation> key=value ...`` lines a scenario prints.

These functions block; inside a test run them with ``deferToThread`` (the
server under test is served by the test's own reactor). ``Builds`` does that
and caches proxies and executables per test module, keyed by scenario and
proxy kind, so each is generated and compiled once however many tests run
it. A proxy generated from one server works against any other: scenarios
take the URL as an argument and set the proxy's Url/EndpointAddress.

Every scenario is compiled with ``csharp/Scenario.cs`` (``Scenario.Run``,
``Check``, ``Succeeded``, ``Ok``, ``Property``), which prints ``OK <Operation>
key=value ...`` per step, ``DONE`` and exit code 0 at the end, ``FAIL <what>``
(exit 1) on an unexpected value and ``ERROR <exception>`` (exit 2) on an
exception; an ASMX scenario also with ``csharp/AsmxProxy.cs``
(``AsmxProxy.Connect``), a WCF one with ``csharp/WcfBinding.cs``
(``WcfBinding.Make``: SOAP 1.1 or 1.2). A scenario takes ``<service url> <user> <password>
[extra arguments]``.

The ``assert_*`` functions at the end check the source of a ``wsdl`` proxy
for what every service's tests expect of it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from twisted.internet.threads import deferToThread

CSHARP_DIR = Path(__file__).resolve().parent / "csharp"
SUPPORT_SOURCES = (CSHARP_DIR / "Scenario.cs",)
ASMX_SUPPORT_SOURCES = SUPPORT_SOURCES + (CSHARP_DIR / "AsmxProxy.cs",)
WCF_SUPPORT_SOURCES = SUPPORT_SOURCES + (CSHARP_DIR / "WcfBinding.cs",)

# What every interop test needs; WCF tests also need svcutil. All are in
# Debian's mono-devel, which scripts/setup installs.
REQUIRED_TOOLS = ("mono", "wsdl", "mcs")
WCF_TOOLS = REQUIRED_TOOLS + ("svcutil",)

ASMX_REFERENCES = ("System.Web.Services", "System.Xml")
WCF_REFERENCES = ("System.ServiceModel", "System.Runtime.Serialization", "System.Xml")

TOOL_TIMEOUT = 180


def missing_tools(tools=REQUIRED_TOOLS) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def skip_unless_tools(tools=REQUIRED_TOOLS):
    """A skip mark, with the reason, for when one of ``tools`` is not on PATH."""
    missing = missing_tools(tools)
    return pytest.mark.skipif(
        bool(missing),
        reason="Mono tools not on PATH: %s (Debian package mono-devel; scripts/setup installs it)"
        % ", ".join(missing),
    )


def requires_mono(tools=REQUIRED_TOOLS) -> list:
    """``pytestmark`` of an interop module: the ``mono`` marker, and a skip
    when a Mono tool is missing."""
    return [pytest.mark.mono, skip_unless_tools(tools)]


class ToolFailed(AssertionError):
    pass


def _environment() -> dict:
    env = dict(os.environ)
    # Mono's HttpWebRequest honours http_proxy; the server is on 127.0.0.1.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(name, None)
    return env


def _run(command: list[str], cwd: Path, timeout: float = TOOL_TIMEOUT, check: bool = True):
    completed = subprocess.run(
        command, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout,
    )
    if check and completed.returncode != 0:
        raise ToolFailed(
            "%s exited with %d\n--- stdout\n%s\n--- stderr\n%s"
            % (" ".join(command), completed.returncode, completed.stdout, completed.stderr)
        )
    return completed


def wsdl_proxy(service_url: str, out: Path, namespace: str = "Stws", soap12: bool = False) -> str:
    """Generate a SoapHttpClientProtocol proxy from ``service_url?WSDL``; returns its source."""
    command = ["wsdl", "-nologo", "-out:%s" % out.name, "-n:%s" % namespace]
    if soap12:
        command.append("-protocol:SOAP12")
    command.append(service_url + "?WSDL")
    _run(command, out.parent)
    return out.read_text(encoding="utf-8")


def svcutil_proxy(service_url: str, out: Path, namespace: str = "Stws.Wcf") -> str:
    """Generate a WCF client from ``service_url?wsdl``; returns its source.

    Mono's svcutil puts the service contract and client in ``namespace`` and
    the data contracts in a namespace derived from the XML namespace
    (``www.smartertools.com.SmarterTrack.Services2.svcX.asmx``).
    """
    _run(["svcutil", "--noLogo", "--noConfig", "-n:%s" % namespace, "-o:%s" % out.name,
          service_url + "?wsdl"], out.parent)
    if not out.exists() or not out.read_text(encoding="utf-8").strip():
        # Mono's svcutil writes an empty file when it finds no wrapped operations.
        raise ToolFailed("svcutil generated no code for %s" % service_url)
    return out.read_text(encoding="utf-8")


def compile_exe(out: Path, sources, references) -> Path:
    """Compile ``sources`` with mcs into the console program ``out``."""
    command = ["mcs", "-nologo", "-debug", "-nowarn:0618,0649,0169", "-target:exe", "-out:%s" % out]
    command += ["-r:%s" % reference for reference in references]
    command += [str(source) for source in sources]
    _run(command, out.parent)
    return out


@dataclass
class ScenarioRun:
    command: list
    returncode: int
    stdout: str
    stderr: str
    ok: dict = field(default_factory=dict)  # operation -> {key: value} of its last OK line

    @property
    def done(self) -> bool:
        return self.stdout.rstrip().endswith("DONE")

    def describe(self) -> str:
        return "%s exited with %d\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(self.command), self.returncode, self.stdout, self.stderr)

    def assert_succeeded(self) -> None:
        assert self.returncode == 0 and self.done, self.describe()


_OK_LINE = re.compile(r"^OK (\w+)((?: \w+=\S*)*)\s*$")


def parse_ok_lines(stdout: str) -> dict:
    ok = {}
    for line in stdout.splitlines():
        match = _OK_LINE.match(line)
        if match:
            ok[match.group(1)] = dict(item.split("=", 1) for item in match.group(2).split())
    return ok


def run_exe(exe: Path, *args: str, timeout: float = TOOL_TIMEOUT) -> ScenarioRun:
    command = ["mono", "--debug", str(exe), *args]
    completed = _run(command, exe.parent, timeout=timeout, check=False)
    return ScenarioRun(command, completed.returncode, completed.stdout, completed.stderr,
                       parse_ok_lines(completed.stdout))


def flatten_strings(source: str) -> str:
    """Join the ``"..." +\\n    "..."`` splits CodeDOM makes in long string
    literals, so attribute arguments can be matched with one regex."""
    return re.sub(r'"\s*\+\s*\n\s*"', "", source)


@dataclass
class Client:
    """A compiled scenario and the generated proxy source it was built with."""

    exe: Path
    proxy_source: str

    @property
    def proxy(self) -> str:
        return flatten_strings(self.proxy_source)


class Builds:
    """Per-module cache of generated proxies and compiled scenarios.

    Use from ``async`` tests; every blocking step runs in a thread.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self._clients: dict = {}

    async def asmx_client(self, service_url: str, scenario: str, soap12: bool = False) -> Client:
        """``scenario`` (a file in csharp/) compiled with a ``wsdl`` proxy (SOAP 1.1 or 1.2)."""
        key = ("asmx12" if soap12 else "asmx11", scenario)
        if key not in self._clients:
            self._clients[key] = await deferToThread(self._build_asmx, service_url, scenario, soap12)
        return self._clients[key]

    async def wcf_client(self, service_url: str, scenario: str) -> Client:
        """``scenario`` compiled with an ``svcutil`` WCF client."""
        key = ("wcf", scenario)
        if key not in self._clients:
            self._clients[key] = await deferToThread(self._build_wcf, service_url, scenario)
        return self._clients[key]

    async def run(self, client: Client, *args: str, timeout: float = TOOL_TIMEOUT) -> ScenarioRun:
        return await deferToThread(run_exe, client.exe, *args, timeout=timeout)

    def _workdir(self, kind: str, scenario: str) -> Path:
        path = self.directory / ("%s-%s" % (Path(scenario).stem, kind))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _build_asmx(self, service_url: str, scenario: str, soap12: bool) -> Client:
        kind = "asmx12" if soap12 else "asmx11"
        workdir = self._workdir(kind, scenario)
        proxy = wsdl_proxy(service_url, workdir / "Proxy.cs", soap12=soap12)
        exe = compile_exe(workdir / (Path(scenario).stem + ".exe"),
                          [*ASMX_SUPPORT_SOURCES, CSHARP_DIR / scenario, workdir / "Proxy.cs"], ASMX_REFERENCES)
        return Client(exe, proxy)

    def _build_wcf(self, service_url: str, scenario: str) -> Client:
        workdir = self._workdir("wcf", scenario)
        proxy = svcutil_proxy(service_url, workdir / "Wcf.cs")
        exe = compile_exe(workdir / (Path(scenario).stem + ".exe"),
                          [*WCF_SUPPORT_SOURCES, CSHARP_DIR / scenario, workdir / "Wcf.cs"], WCF_REFERENCES)
        return Client(exe, proxy)


# ---------------------------------------------------------------- wsdl proxy source


def assert_asmx_proxy_class(proxy: str, service: str, namespace: str, soap12: bool) -> None:
    """``service``'s SoapHttpClientProtocol class, bound to its SOAP 1.1 or 1.2
    binding in ``namespace``, setting SoapVersion only for SOAP 1.2."""
    binding = service + ("Soap12" if soap12 else "Soap")
    assert re.search(r'WebServiceBindingAttribute\(Name="%s", Namespace="%s"\)' % (binding, re.escape(namespace)),
                     proxy), "no binding %s" % binding
    assert re.search(r"public partial class %s : System\.Web\.Services\.Protocols\.SoapHttpClientProtocol"
                     % service, proxy), "no SoapHttpClientProtocol class %s" % service
    soap12_line = "this.SoapVersion = System.Web.Services.Protocols.SoapProtocolVersion.Soap12;"
    assert (soap12_line in proxy) == soap12, "SoapVersion set: %s, SOAP 1.2: %s" % (soap12_line in proxy, soap12)


def wrapped_method_pattern(namespace: str, operation: str, method: str) -> str:
    """A regex for the proxy method of ``operation``: document/literal wrapped,
    SOAPAction = namespace/operation, and nothing between that attribute and
    ``method`` (a regex for the method's declaration); in particular no
    [return: XmlElement(IsNullable=true)]."""
    return (
        r'\[System\.Web\.Services\.Protocols\.SoapDocumentMethodAttribute\("%(ns)s/%(op)s", '
        r'RequestNamespace="%(ns)s", ResponseNamespace="%(ns)s", '
        r"Use=System\.Web\.Services\.Description\.SoapBindingUse\.Literal, "
        r"ParameterStyle=System\.Web\.Services\.Protocols\.SoapParameterStyle\.Wrapped\)\]\s*"
        % {"ns": re.escape(namespace), "op": operation}
    ) + method


def assert_wrapped_signatures(proxy: str, namespace: str, signatures, operations) -> None:
    """``signatures`` (C# declarations, one per operation of ``operations``,
    all of them) each as a wrapped proxy method (``wrapped_method_pattern``)."""
    named = sorted(re.search(r"(\w+)\(", s).group(1) for s in signatures)
    assert named == sorted(operations), (named, sorted(operations))
    for signature in signatures:
        operation = re.search(r"(\w+)\(", signature).group(1)
        pattern = wrapped_method_pattern(namespace, operation, r"public %s \{" % re.escape(signature))
        assert re.search(pattern, proxy), signature


def assert_wrapped_in_own_namespace(proxy: str) -> None:
    """No bare parameters and no [return: ...] attributes; string[] items
    (ArrayOfString) in the service's own namespace, as in SmarterTrack's
    WSDL: no XmlArrayItem(Namespace=...) pointing at another service's."""
    assert "SoapParameterStyle.Bare" not in proxy, "SoapParameterStyle.Bare"
    assert "[return:" not in proxy, "[return:"
    assert "XmlArrayItemAttribute(Namespace=" not in proxy, "XmlArrayItemAttribute(Namespace="
    assert "svcOrganization" not in proxy, "svcOrganization"


def assert_no_nullable_value_types(proxy: str) -> None:
    # xs:integer would come out as string + DataType="integer"; optional or
    # nillable value types as Nullable<T> plus ...Specified properties.
    assert 'DataType="integer"' not in proxy, 'DataType="integer"'
    specified = re.search(r"\bSpecified\b|\w+Specified\s*\{", proxy)
    assert not specified, specified.group(0)
    assert "System.Nullable<" not in proxy, "System.Nullable<"
    nullable = re.search(r"\b(int|bool|long|System\.DateTime)\?", proxy)
    assert not nullable, nullable.group(0)


def assert_declares(proxy: str, declarations) -> None:
    """Each of ``declarations`` (``"public int Port {"``...) is in the proxy."""
    for declaration in declarations:
        assert declaration in proxy, declaration
