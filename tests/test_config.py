"""Settings from defaults, a config file and the command line."""
from __future__ import annotations

import pytest

from stws.config import Config, ConfigError


def test_defaults():
    config = Config.load({})
    assert config.listen == "tcp:9996:interface=127.0.0.1"
    assert config.database_url.startswith("sqlite:///") and config.database_url.endswith("data/stws.sqlite3")
    assert config.base_url_for_port(9996) == "http://127.0.0.1:9996"


def test_file_then_command_line(tmp_path):
    path = tmp_path / "stws.ini"
    path.write_text("[stws]\nthreads = 3\ndatabase = postgresql+psycopg://u@h/db\npublic-url = https://x.example/\n")
    config = Config.load({"threads": "5"}, str(path))
    assert config.threads == 5  # the command line wins
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert config.base_url_for_port(1) == "https://x.example"


def test_directory_cache_switch(tmp_path):
    assert Config.load({}).directory_cache is True
    path = tmp_path / "stws.ini"
    path.write_text("[stws]\ndirectory-cache = off\n")
    assert Config.load({}, str(path)).directory_cache is False
    assert Config.load({"directory-cache": "On"}, str(path)).directory_cache is True


def test_ipv6_listen_address_in_urls():
    config = Config.load({"listen": "tcp6:8080:interface=\\:\\:1"})
    assert config.base_url_for_port(8080) == "http://[::1]:8080"


@pytest.mark.parametrize("options, message", [
    ({"threads": "0"}, "greater than zero"),
    ({"threads": "many"}, "whole number"),
    ({"max-request-size": "-1"}, "greater than zero"),
    ({"directory-cache": "maybe"}, "on or off"),
])
def test_bad_values(options, message):
    with pytest.raises(ConfigError, match=message):
        Config.load(options)


def test_unknown_key_and_missing_file(tmp_path):
    path = tmp_path / "stws.ini"
    path.write_text("[stws]\nlisen = tcp:1\n")
    with pytest.raises(ConfigError, match="unknown key 'lisen'"):
        Config.load({}, str(path))
    with pytest.raises(ConfigError, match="cannot be read"):
        Config.load({}, str(tmp_path / "missing.ini"))
