"""`ganas report` on a tiny searched run: what the page, the CSVs and the figures hold, a report taken while
the search is running, and the page as a real headless browser renders it."""
import html
import html.parser
import json
import shutil
import subprocess

import pandas as pd
import pytest

from ganas.cli import main
from ganas.search import pareto_trials
from tiny_run import load_study, searched_run, tiny_study


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp, study = searched_run(tmp_path_factory, "report")
    assert main(["report", str(study), "--quiet"]) == 0
    return tmp, study


class Tables(html.parser.HTMLParser):
    """Rows of the table with id 'pareto', and every <img>'s alt text."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self._in = [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "pareto":
            self._in = True
        elif tag == "tr" and self._in:
            self.rows.append([])
        elif tag == "img":
            self.images.append(a.get("alt"))

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False

    def handle_data(self, data):
        if self._in and self.rows and data.strip():
            self.rows[-1].append(data.strip())


def test_csvs_and_table_hold_every_trial_and_the_pareto_subnets(run):
    tmp, _ = run
    report, study = tmp / "report", load_study(tmp)
    trials = pd.read_csv(report / "trials.csv")
    assert sorted(trials.trial) == [t.number for t in study.trials]
    over = trials[trials.status == "over budget"]
    assert len(over) and not over.feasible.any()  # the seeded largest subnet is over the 15% budget
    assert over.macs.min() > 0.15 * json.loads((tmp / "run" / "teacher_metrics.json").read_text())["macs"]
    assert over.domain_fid.isna().all()  # never evaluated
    front = {t.number for t in pareto_trials(study)}
    assert front and set(trials.trial[trials.pareto]) == front
    pareto = pd.read_csv(report / "pareto.csv")
    assert set(pareto.trial) == front and (pareto.latency_ms > 0).all() and (pareto.mac_reduction > 1).all()

    page = Tables()
    page.feed((report / "index.html").read_text())
    header, teacher, *rows = page.rows
    assert "latency (ms)" in header and "domain_fid" in header and "MACs vs teacher" in header
    assert teacher[0] == "teacher" and sorted(int(r[0]) for r in rows) == sorted(front)
    by_trial = {int(r[0]): r for r in rows}
    for _, p in pareto.iterrows():
        assert by_trial[p.trial][1] == p.arch  # the config column
    assert {"quality vs MACs", "quality vs latency", "sample outputs", "per-layer widths",
            "hypervolume history"} <= set(page.images)
    for name in ("pareto.png", "latency.png", "samples.png", "widths.png", "hypervolume.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG"


def test_latency_is_cached_so_a_second_report_measures_nothing(run, monkeypatch):
    tmp, study = run
    cache = json.loads((tmp / "run" / "latency.json").read_text())
    assert len(cache) == 1 + len(pareto_trials(load_study(tmp)))  # the teacher and each Pareto subnet
    for v in cache.values():  # the faster of the exported TorchScript and ONNX files, both timed
        assert {"torchscript", "onnx"} <= set(v) and v["median_ms"] == min(v["torchscript"]["median_ms"],
                                                                         v["onnx"]["median_ms"])
        assert v[v["format"]]["input_shape"] == [1, 1, 32, 32] and v["median_ms"] > 0

    def refuse(*a, **k):
        raise AssertionError("measured again")

    monkeypatch.setattr("ganas.report.timing.measure_latency", refuse)
    assert main(["report", str(study), "--quiet"]) == 0


def test_report_while_the_search_runs_reads_without_writing(run, tmp_path):
    tmp, _ = run
    shutil.copytree(tmp / "run", tmp_path / "run")
    study_file = tiny_study(tmp_path)
    study = load_study(tmp_path)
    study.ask()  # a trial a live search is evaluating: RUNNING in the storage
    journal = (tmp_path / "run" / "study.journal").read_bytes()
    with open(tmp_path / "run" / "study.journal", "ab") as f:
        f.write(b'{"op_code": 5, "worker_id": "x", "trial_id"')  # a line the search is half-way through writing
    journal += b'{"op_code": 5, "worker_id": "x", "trial_id"'
    assert main(["report", str(study_file), "--quiet"]) == 0
    assert (tmp_path / "run" / "study.journal").read_bytes() == journal
    trials = pd.read_csv(tmp_path / "report" / "trials.csv")
    assert (trials.status == "running").sum() == 1
    assert "still running" in (tmp_path / "report" / "index.html").read_text()


CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, shown: i.width}));
  const rows = document.querySelectorAll("#pareto tbody tr").length;
  const out = document.createElement("pre");
  out.id = "check";
  out.textContent = JSON.stringify({imgs, rows});
  document.body.appendChild(out);
});
</script></body>"""


def chromium(*args, profile):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--hide-scrollbars"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="Debian's chromium is not installed (`apt-get install -y chromium`; .ci/setup does it)")
def test_page_renders_in_a_headless_browser(run, tmp_path):
    tmp, _ = run
    page = tmp / "report" / "index.html"
    # A copy of the page with a script that reports what the browser really decoded and laid out.
    probe = tmp / "report" / "probe.html"
    probe.write_text(page.read_text().replace("</body>", CHECK))
    r = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri(), profile=tmp_path / "profile1")
    assert r.returncode == 0, r.stderr[-2000:]
    start = r.stdout.index('<pre id="check">') + len('<pre id="check">')
    check = json.loads(html.unescape(r.stdout[start:r.stdout.index("</pre>", start)]))
    imgs = {i["alt"]: i for i in check["imgs"]}
    for alt in ("quality vs MACs", "quality vs latency", "sample outputs", "per-layer widths", "hypervolume history"):
        assert imgs[alt]["w"] > 100 and imgs[alt]["h"] > 100 and imgs[alt]["shown"] > 100, alt
    assert check["rows"] == 1 + len(pareto_trials(load_study(tmp)))  # the teacher and each Pareto subnet
    shot = tmp / "report" / "screenshot.png"
    r = chromium("--window-size=1200,3000", f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile2")
    assert r.returncode == 0 and shot.stat().st_size > 50_000, r.stderr[-2000:]
