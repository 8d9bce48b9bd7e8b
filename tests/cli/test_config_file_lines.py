"""`rlm config` and the config file: a key is reported at its own line even when another section
of the file has the same key."""

from __future__ import annotations

import subprocess

from tests.cli.conftest import RLM

TWO_SECTIONS = """\
model = "openai/gpt-4o"
[ui]
max_iterations = 10  # same key, another section
[limits]
max_depth = 3
max_iterations = {value}
"""


def _config(home, text: str) -> subprocess.CompletedProcess:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    env = {"RLM_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([RLM, "config"], capture_output=True, text=True, env=env)


def test_an_error_points_at_the_key_in_its_own_section(tmp_path):
    done = _config(tmp_path, TWO_SECTIONS.format(value=0))
    assert done.returncode == 2
    assert "config.toml, line 6: max_iterations must be at least 1, not 0" in done.stderr


def test_the_source_of_a_value_is_its_own_line(tmp_path):
    done = _config(tmp_path, TWO_SECTIONS.format(value=12))
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "12" in lines["max_iterations"] and lines["max_iterations"].endswith("config.toml:6)")
    assert lines["max_depth"].endswith("config.toml:5)") and lines["model"].endswith("config.toml:1)")


def test_an_array_over_several_lines_is_not_taken_for_a_section():
    from rlm_tui.config.sources import key_lines

    text = '[limits]\nnotes = [\n  ["other"],\n  "x",\n]\nmax_iterations = 5\n[other]\nmax_iterations = 7\n'
    lines = key_lines(text)
    assert lines[("limits", "max_iterations")] == 6
    assert lines[("other", "max_iterations")] == 8


def test_quoted_and_dotted_keys_and_strings_that_look_like_toml():
    import tomllib

    from rlm_tui.config.sources import key_lines

    text = (
        'model = "a#b[c"  # ] is no bracket here\n'  # 1
        '"max_depth" = 2\n'  # 2
        'notes = """\n[limits]\nmax_depth = 99\n"""\n'  # 3-6: a string, not a section
        'arr = [\n  "]",  # [\n  { a = 1 },\n]\n'  # 7-10
        "[ 'limits' ]\n"  # 11
        "max_iterations = 5\n"  # 12
        "sub.max_depth = 3\n"  # 13
        'end = """a""""\n'  # 14: the string is a" and ends here
        "after = 1\n"  # 15
    )
    tomllib.loads(text)  # the text is valid TOML
    lines = key_lines(text)
    assert lines[("model",)] == 1 and lines[("max_depth",)] == 2 and lines[("notes",)] == 3
    assert ("limits", "max_depth") not in lines and lines[("limits",)] == 11
    assert lines[("limits", "max_iterations")] == 12 and lines[("limits", "sub", "max_depth")] == 13
    assert lines[("limits", "after")] == 15


def test_a_key_in_a_dotted_key_or_an_inline_table_is_found(tmp_path):
    done = _config(tmp_path, 'model = "openai/gpt-4o"\nlimits.max_depth = 3\ntuning = { max_depth = 0 }\n')
    assert done.returncode == 2
    assert "config.toml, line 3: max_depth must be at least 1, not 0" in done.stderr
