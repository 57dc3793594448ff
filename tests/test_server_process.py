"""The real thing: ``twistd -n stws`` as a user starts it, in its own process."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from twisted.internet.threads import deferToThread

TWISTD = str(Path(sys.executable).with_name("twistd"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(data_dir: Path, port: int, *extra: str, env_password: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "STWS_ADMIN_PASSWORD"}
    if env_password:
        env["STWS_ADMIN_PASSWORD"] = env_password
    return subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", "stws", "--data-dir", str(data_dir),
         "--listen", "tcp:%d:interface=127.0.0.1" % port, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=data_dir.parent,
    )


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 30, log: str | None = None) -> None:
    """Until ``url`` answers 200; ``log``: the file the process writes its
    output to, when not to a pipe (then named if it exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("server exited: %s" % ("see %s" % log if log else process.stderr.read().decode()))
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or still busy starting (a loaded machine): ask again until the deadline
        time.sleep(0.2)
    raise AssertionError("server did not answer within %s s" % seconds)


def stop(process: subprocess.Popen) -> tuple[bool, str]:
    """SIGTERM, as a service manager stops it; (shut down cleanly?, stderr)."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    # twistd shuts down, then exits with the signal it got (status -15).
    clean = process.returncode in (0, -signal.SIGTERM) and b"Server Shut Down." in out
    return clean, err.decode() + out.decode()


def call_get_all_groups(url: str, user: str, password: str) -> bytes:
    body = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            '<GetAllGroups xmlns="http://www.smartertools.com/SmarterTrack/Services2/svcOrganization.asmx">'
            "<authUserName>%s</authUserName><authPassword>%s</authPassword></GetAllGroups></s:Body></s:Envelope>"
            % (user, password))
    response = requests.post(url, data=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"},
                             timeout=30)
    assert response.status_code == 200
    return response.content


def run_first_start_and_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    base = "http://127.0.0.1:%d/Services2/svcOrganization.asmx" % port
    process = start(data, port)
    try:
        wait_until_serving(base + "?WSDL", process)
    finally:
        clean, err = stop(process)
    assert clean, err
    match = re.search(r"'admin' with password: (\S+)", err)
    assert match, err
    password = match.group(1)
    # The data directory has its layout and the database.
    for folder in ("logs", "email", "attachments", "failed-emails", "temp", "raw-content"):
        assert (data / folder).is_dir(), folder
    assert (data / "stws.sqlite3").exists()
    system_logs = list((data / "logs").glob("system-*.log"))
    assert system_logs
    # Once started, the objects it keeps for its life leave the collector's passes (stws.heap).
    assert re.search(r"[1-9]\d* objects of the start kept out of the garbage collector's passes",
                     "".join(path.read_text() for path in system_logs))

    # A restart keeps the account and prints no new password.
    process = start(data, port)
    try:
        wait_until_serving(base + "?WSDL", process)
        assert b">true<" in call_get_all_groups(base, "admin", password)
        assert b">false<" in call_get_all_groups(base, "admin", password + "x")
    finally:
        clean, err = stop(process)
    assert clean, err
    assert "with password" not in err


async def test_first_start_creates_everything_and_restart_keeps_it(tmp_path):
    await deferToThread(run_first_start_and_restart, tmp_path)


def run_with_config_file(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "stws.ini"
    config.write_text("[stws]\nlisten = tcp:%d:interface=127.0.0.1\ndata-dir = %s\n"
                      "public-url = https://help.example.com\n" % (port, tmp_path / "configured"))
    env = dict(os.environ, STWS_ADMIN_PASSWORD="chosen-passw0rd")
    process = subprocess.Popen([TWISTD, "-n", "--pidfile=", "stws", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    url = "http://127.0.0.1:%d/Services2/svcOrganization.asmx" % port
    try:
        wait_until_serving(url + "?wsdl", process)
        wsdl = requests.get(url + "?wsdl", timeout=10).text
        assert 'location="https://help.example.com/Services2/svcOrganization.asmx"' in wsdl
        assert b">true<" in call_get_all_groups(url, "admin", "chosen-passw0rd")
    finally:
        clean, err = stop(process)
    assert clean, err
    assert "with password" not in err  # the chosen one is not printed
    assert (tmp_path / "configured" / "stws.sqlite3").exists()


async def test_config_file_and_chosen_admin_password(tmp_path):
    await deferToThread(run_with_config_file, tmp_path)


def run_bad_option(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([TWISTD, "-n", "--pidfile=", "stws", "--threads", "zero"], capture_output=True,
                          cwd=tmp_path, timeout=60)


async def test_bad_option_is_reported(tmp_path):
    result = await deferToThread(run_bad_option, tmp_path)
    assert result.returncode != 0
    assert b"threads must be a whole number" in result.stdout + result.stderr


def run_stop_under_load(tmp_path: Path) -> None:
    import threading

    data = tmp_path / "data"
    port = free_port()
    url = "http://127.0.0.1:%d/Services2/svcOrganization.asmx" % port
    process = start(data, port, env_password="load-passw0rd")
    wait_until_serving(url + "?WSDL", process)
    stop_flag = threading.Event()

    def hammer():
        while not stop_flag.is_set():
            try:
                call_get_all_groups(url, "admin", "load-passw0rd")
            except (requests.ConnectionError, AssertionError):
                return

    clients = [threading.Thread(target=hammer) for _ in range(8)]
    for client in clients:
        client.start()
    time.sleep(1.0)  # calls in flight
    try:
        clean, output = stop(process)  # communicate() times out after 30 s if it hangs
    finally:
        stop_flag.set()
        process.kill()
        for client in clients:
            client.join(timeout=30)
    assert clean, output


async def test_sigterm_with_calls_in_flight_shuts_down(tmp_path):
    await deferToThread(run_stop_under_load, tmp_path)
