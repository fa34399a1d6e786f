import pytest

from ganas.config import load_study, parse_budget
from ganas.errors import GanasError


def write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_quickstart_study_loads_with_its_budget():
    s = load_study("studies/quickstart.yaml")
    assert s.name == "quickstart" and s.search.budgets == {"macs": "12.5%"}
    assert s.run_path.name == "quickstart"


@pytest.mark.parametrize("text,needle", [
    ("name: q\nsearch: {samplr: tpe}", "unknown key search.samplr"),
    ("name: q\nsearch: {sampler: annealing}", "choose one of tpe"),
    ("name: q\nteacher: {ngf: wide}", "teacher.ngf must be int"),
    ("name: [unclosed", "not valid YAML at line 1"),
    ("- just\n- a list", "must be a YAML mapping"),
    ("name: q\nsearch: {objectives: [speed]}", "choose from"),
    ("name: q\nsearch: {budgets: {energy: 3}}", "not a budget"),
    ("name: q\nsearch: {lpips_net: resnet}", "choose one of alex, vgg"),
    ("name: q\nteacher: {steps: -1}", "must be positive"),
    ("name: q\ndata: {size: 30}", "multiple of 4"),
    ("name: 'a b'", "letters, digits"),
])
def test_bad_study_files_name_the_problem(tmp_path, text, needle):
    with pytest.raises(GanasError, match=needle) as e:
        load_study(write(tmp_path, text))
    assert "\n" not in str(e.value)


def test_missing_study_file(tmp_path):
    with pytest.raises(GanasError, match="not found"):
        load_study(tmp_path / "nope.yaml")


def test_budgets_absolute_with_units_or_share_of_teacher():
    assert parse_budget(1000, 1e9) == 1000
    assert parse_budget("2.5G", 1e9) == 2.5e9
    assert parse_budget("300M", 1e9) == 3e8
    assert parse_budget("12.5%", 8e8) == pytest.approx(1e8)
    with pytest.raises(GanasError, match="12.5%"):
        parse_budget("one eighth", 1e9)
    for nan in ("nan%", "nan", float("nan")):
        with pytest.raises(GanasError, match="search.budgets"):
            parse_budget(nan, 1e9)
    with pytest.raises(GanasError, match="fix it in --max-macs"):
        parse_budget("abc", 1e9, "--max-macs")
