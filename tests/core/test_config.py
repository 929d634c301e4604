import pytest

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError


def test_reads_yaml_and_toml(tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\ny: [2, 3]\n")
    (tmp_path / "b.toml").write_text("x = 1\n[t]\nz = 'q'\n")
    (tmp_path / "c.yml").write_text("")
    assert read_config_file(tmp_path / "a.yaml", "thing") == {"x": 1, "y": [2, 3]}
    assert read_config_file(str(tmp_path / "b.toml"), "thing") == {"x": 1, "t": {"z": "q"}}
    assert read_config_file(tmp_path / "c.yml", "thing") == {}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.yaml", None, "widget file not found: "),
        ("a.json", "{}", r"widget file .*a\.json must be \.yaml, \.yml or \.toml"),
        ("a.toml", "[x\n", r"cannot parse widget file .*a\.toml: "),
        ("a.yaml", "x: [1\n", r"cannot parse widget file .*a\.yaml: "),
        ("a.yaml", "- 1\n- 2\n", r"widget file .*a\.yaml must be a mapping"),
    ],
)
def test_errors_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_config_file(path, "widget file")
