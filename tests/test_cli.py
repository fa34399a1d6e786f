"""The whole pipeline through the CLI on real Fashion-MNIST images at tiny settings, and bad input."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganas.cli import main
from ganas.export import load_exported

HERE = Path(__file__).parent


def tiny_study(tmp: Path, **extra) -> Path:
    text = f"""
name: tiny
run_dir: {tmp}/run
report_dir: {tmp}/report
data: {{limit_train: 400, limit_test: 100, search_holdout: 100}}
teacher: {{ngf: 8, n_blocks: 3, steps: 15, batch_size: 8, ndf: 8}}
supernet: {{search_space: {HERE}/data/tiny_space.yaml, steps: 15, batch_size: 8, ndf: 8}}
search: {{n_trials: 5, workers: 0, eval_images: 64, budgets: {{macs: "15%"}}}}
finetune: {{steps: 3, batch_size: 8}}
"""
    for k, v in extra.items():
        text += f"{k}: {v}\n"
    p = tmp / "tiny.yaml"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    study = tiny_study(tmp)
    assert main(["run", str(study), "--quiet"]) == 0
    return tmp, study


def test_run_writes_report_export_and_finetune(run, capsys):
    tmp, study = run
    report = tmp / "report"
    for f in ("index.html", "trials.csv", "pareto.csv", "pareto.png", "samples.png"):
        assert (report / f).stat().st_size > 0, f
    html = (report / "index.html").read_text()
    assert "Pareto front" in html and "teacher" in html and "data:image/png;base64" in html
    assert len((report / "pareto.csv").read_text().splitlines()) >= 2  # header + at least one feasible subnet
    export = next((tmp / "run" / "export").iterdir())
    cfg = json.loads((export / "config.json").read_text())
    assert cfg["macs"] <= 0.15 * cfg["teacher_macs"]  # the exported subnet is within the budget
    net = load_exported(export)
    assert not any("Dynamic" in type(m).__name__ for m in net.modules())
    out = net(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 1, 32, 32) and out.abs().max() <= 1
    ft = json.loads((export / "finetune.json").read_text())
    assert set(ft["before"]) >= {"domain_fid", "accuracy", "l1"} and ft["after"]["l1"] >= 0


def test_second_run_reuses_finished_stages(run, capsys):
    tmp, study = run
    stamps = {p: p.stat().st_mtime_ns for p in (tmp / "run").glob("*.pt")}
    n_trials = len((tmp / "report" / "trials.csv").read_text().splitlines())
    assert main(["run", str(study), "--quiet"]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp / "run").glob("*.pt")}
    assert len((tmp / "report" / "trials.csv").read_text().splitlines()) == n_trials
    assert "report:" in capsys.readouterr().out


def test_export_a_chosen_trial_and_refuse_an_unknown_one(run, capsys):
    tmp, study = run
    trials = (tmp / "report" / "trials.csv").read_text().splitlines()
    assert main(["export", str(tmp / "run"), "--trial", "0"]) == 0  # trial 0 is the seeded largest subnet
    assert (tmp / "run" / "export" / "trial_0" / "model.pt").exists()
    assert main(["export", str(study), "--trial", "999"]) == 2
    assert "trial 999 is not a finished trial" in capsys.readouterr().err
    assert len(trials) > 1


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ganas", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("text,needle", [
    ("name: x\nsearch: {budgets: {macs: '0.01%'}}", "is impossible"),
    ("name: x\nteacher: {ngff: 3}", "unknown key teacher.ngff"),
    ("name: x\ndata: {path: /nonexistent/fmnist}", "dataset-fashion-mnist"),
    ("name: x\nsupernet: {search_space: /nonexistent.yaml}", "search space"),
    ("name: x\n  bad: indent", "not valid YAML"),
    ("name: x\nteacher: {lr: -1.0}", "teacher.lr = -1.0 must be a positive number"),
    ("name: x\nteacher: {ndf: 0}", "teacher.ndf = 0 must be positive"),
    ("name: x\nfinetune: {batch_size: 0}", "finetune.batch_size = 0 must be positive"),
    ("name: x\nreport_dir: 'reports/{study}'", "placeholder other than {name}"),
    ("name: x\ndata: {dataset: mnist}", "unknown data.dataset 'mnist'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text + f"\nrun_dir: {tmp_path}/run\n")
    r = cli("search", str(p))
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_files_and_flags_are_one_line_and_exit_2(tmp_path):
    def one_line(r, needle):
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: x\n# caf\xe9\n")
    one_line(cli("search", str(latin)), "is not UTF-8 text")
    good = tmp_path / "good.yaml"
    good.write_text(f"name: x\nrun_dir: {tmp_path}/run\n")
    one_line(cli("search", str(good), "--workers", "two"), "invalid int value")
    (tmp_path / "afile").write_text("")
    good.write_text(f"name: x\nrun_dir: {tmp_path}/afile\n")
    one_line(cli("search", str(good)), "is a file, not a folder")


def test_a_damaged_journal_is_named_and_a_failed_command_keeps_the_run_record(run, tmp_path):
    tmp, _ = run
    shutil.copytree(tmp / "run", tmp_path / "run")  # a run folder answers for itself wherever it is copied
    journal = tmp_path / "run" / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:5] + [b'{"op_code": 5, "trial_id": "oo\n'] + lines[6:]))
    record = (tmp_path / "run" / "study.json").read_bytes()
    r = cli("export", str(tmp_path / "run"), "--trial", "0")
    assert r.returncode == 2 and "is damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "run" / "study.json").read_bytes() == record
    assert (tmp / "run" / "study.journal").read_bytes() != journal.read_bytes()  # the original run is untouched


def test_checkpoint_of_wrong_architecture_is_refused_and_kept(run, tmp_path):
    tmp, _ = run
    study = tiny_study(tmp_path)
    text = study.read_text().replace("ngf: 8,", "ngf: 12,")
    study.write_text(text)
    (tmp_path / "run").mkdir()
    teacher = tmp_path / "run" / "teacher.pt"
    teacher.write_bytes((tmp / "run" / "teacher.pt").read_bytes())
    (tmp_path / "run" / "classifier.pt").write_bytes((tmp / "run" / "classifier.pt").read_bytes())
    (tmp_path / "run" / "study.json").write_bytes((tmp / "run" / "study.json").read_bytes())
    before, record = teacher.read_bytes(), (tmp_path / "run" / "study.json").read_bytes()
    r = cli("teacher", str(study))
    assert r.returncode == 2 and "ngf" in r.stderr and "Traceback" not in r.stderr
    assert teacher.read_bytes() == before
    assert (tmp_path / "run" / "study.json").read_bytes() == record  # the failed command did not rewrite it
