"""The model as data: the seed's table is mapped cell by cell; bad files name the criterion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from maturity import metrics
from maturity import model as model_mod
from tests import clirun

SEED_TABLE = Path(__file__).parent.parent / "fixtures" / "seed_maturity_table.tsv"


def _toml(body: str, version: str = "1") -> str:
    return f'version = "{version}"\n' + body


ONE_DIM = """
[[dimensions]]
id = "d"
name = "D"
[[dimensions.levels]]
name = "Base"
text = "t"
[[dimensions.levels]]
name = "Beginner"
text = "t"
[[dimensions.levels.criteria]]
id = "d.one"
description = "one"
rationale = "why"
check = "{check}"
[[dimensions.levels]]
name = "Intermediate"
text = "t"
[[dimensions.levels.criteria]]
id = "d.two"
description = "two"
rationale = "why"
survey = {{ question = "q?", min_mean = {min_mean} }}
[[dimensions.levels]]
name = "Advanced"
text = "t"
[[dimensions.levels.criteria]]
id = "d.three"
description = "three"
rationale = "why"
check = "commits >= 1"
[[dimensions.levels]]
name = "Expert"
text = "t"
[[dimensions.levels.criteria]]
id = "d.four"
description = "four"
rationale = "why"
check = "builds >= 1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.toml"
    path.write_text(text)
    return path


def test_default_model_has_the_seeds_five_dimensions_and_levels() -> None:
    m = model_mod.load()
    assert [d.name for d in m.dimensions] == [
        "Source control",
        "Environments",
        "Build & Test",
        "Deployment",
        "Reporting",
    ]
    for dim in m.dimensions:
        assert [lv.name for lv in dim.levels] == list(model_mod.LEVELS)
        assert dim.levels[0].criteria == ()
        assert all(lv.criteria for lv in dim.levels[1:]), dim.id


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower().replace("cl ", "ci ")))


def test_every_cell_of_the_seed_table_is_in_the_model_with_its_text() -> None:
    m = model_mod.load()
    rows = [
        line.split("\t")
        for line in SEED_TABLE.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    header, body = rows[0], rows[1:]
    assert header[1:] == list(model_mod.LEVELS)
    for cells, dim in zip(body, m.dimensions, strict=True):
        assert cells[0].lower().replace(" & ", " ").split()[0] in dim.name.lower()
        for seed_text, lv in zip(cells[1:], dim.levels, strict=True):
            missing = _words(seed_text) - _words(lv.text)
            assert not missing, (dim.id, lv.name, missing)


def test_every_criterion_has_id_description_rationale_and_a_check() -> None:
    m = model_mod.load()
    for _, _, c in m.criteria():
        assert c.description and c.rationale and c.statement
        assert c.metric or c.survey
        if c.metric:
            assert c.metric.metric in metrics.CATALOGUE


def test_model_version_is_declared_version_plus_content_hash(tmp_path: Path) -> None:
    a = model_mod.load(write(tmp_path, _toml(ONE_DIM.format(check="commits >= 1", min_mean=4))))
    b = model_mod.load(write(tmp_path, _toml(ONE_DIM.format(check="commits >= 2", min_mean=4))))
    assert a.version.startswith("1+") and b.version.startswith("1+")
    assert a.version != b.version


@pytest.mark.parametrize(
    ("check", "min_mean", "message"),
    [
        ("review_rat >= 0.8", 4, "criterion 'd.one': check: unknown metric 'review_rat'"),
        ("review_rate => 0.8", 4, "criterion 'd.one': check: expected 'metric op number'"),
        ("commits >= 1", 7, "criterion 'd.two': survey.min_mean: a number from 1 to 5"),
    ],
)
def test_bad_model_file_error_names_the_criterion(
    tmp_path: Path, check: str, min_mean: float, message: str
) -> None:
    path = write(tmp_path, _toml(ONE_DIM.format(check=check, min_mean=min_mean)))
    with pytest.raises(model_mod.ModelError) as err:
        model_mod.load(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('rationale = "why"\ncheck = "commits', 'check = "commits'),
            "criterion 'd.one': rationale: required",
        ),
        (
            lambda t: t.replace('id = "d.four"', 'id = "d.one"'),
            "criterion 'd.one': the id is used twice",
        ),
        (
            lambda t: t.replace('id = "d.four"', 'id = "d.four"\ncolour = "red"'),
            "criterion 'd.four': colour: unknown key",
        ),
        (lambda t: t.replace('name = "Expert"', 'name = "Guru"'), "levels: expected exactly"),
        (
            lambda t: t.replace('check = "builds >= 1"', ""),
            "criterion 'd.four': needs a check, a survey question, or both",
        ),
    ],
)
def test_structural_errors_are_clear(tmp_path: Path, edit: object, message: str) -> None:
    text = _toml(ONE_DIM.format(check="commits >= 1", min_mean=4))
    path = write(tmp_path, edit(text))  # type: ignore[operator]
    with pytest.raises(model_mod.ModelError, match=re.escape(message)):
        model_mod.load(path)


def test_an_organisation_extends_the_default_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
extends = "default"
version = "acme-1"
[[dimensions]]
id = "source_control"
[[dimensions.levels]]
name = "Intermediate"
[[dimensions.levels.criteria]]
id = "sc.code_review"
description = "Every pull request is reviewed."
rationale = "Our policy."
check = "review_rate >= 1.0"
[[dimensions]]
id = "security"
name = "Security"
[[dimensions.levels]]
name = "Base"
text = "none"
[[dimensions.levels]]
name = "Beginner"
text = "scans"
[[dimensions.levels.criteria]]
id = "sec.scans"
description = "Builds run."
rationale = "A place to scan."
check = "builds >= 1"
[[dimensions.levels]]
name = "Intermediate"
text = "x"
[[dimensions.levels.criteria]]
id = "sec.x"
description = "x"
rationale = "x"
survey = { question = "x?", min_mean = 3 }
[[dimensions.levels]]
name = "Advanced"
text = "x"
[[dimensions.levels.criteria]]
id = "sec.y"
description = "y"
rationale = "y"
survey = { question = "y?" }
[[dimensions.levels]]
name = "Expert"
text = "x"
[[dimensions.levels.criteria]]
id = "sec.z"
description = "z"
rationale = "z"
survey = { question = "z?" }
""",
    )
    m = model_mod.load(path)
    assert [d.id for d in m.dimensions][-1] == "security"
    review = [c for _, _, c in m.criteria() if c.id == "sc.code_review"]
    assert len(review) == 1 and review[0].metric is not None
    assert review[0].metric.threshold == 1.0
    assert m.version.startswith("1.0/acme-1+")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}
    return clirun.run(
        [sys.executable, "-m", "maturity", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        env=env,
    )


def test_model_check_command_reports_the_criterion_in_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, _toml(ONE_DIM.format(check="nope >= 1", min_mean=4)))
    proc = _cli("model", "check", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "criterion 'd.one'" in lines[0] and "unknown metric 'nope'" in lines[0]
    )
    good = _cli("model", "check", str(model_mod.DEFAULT_PATH), cwd=tmp_path)
    assert good.returncode == 0 and "valid" in good.stdout


def test_model_show_prints_every_criterion_of_the_configured_model(tmp_path: Path) -> None:
    proc = _cli("model", "show", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    flat = re.sub(r"[\s│┃]+", "", proc.stdout)
    for _, _, c in model_mod.load().criteria():
        assert c.id in flat
    assert "review_rate>=0.8" in flat


def test_the_configured_model_replaces_the_default(tmp_path: Path) -> None:
    (tmp_path / "ours.toml").write_text(
        _toml(ONE_DIM.format(check="commits >= 3", min_mean=4), version="ours-2")
    )
    (tmp_path / "maturity.toml").write_text('model = "ours.toml"\n')
    proc = _cli("--config", str(tmp_path / "maturity.toml"), "model", "show", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "version ours-2+" in proc.stdout and "d.one" in proc.stdout
    assert "sc.code_review" not in proc.stdout
