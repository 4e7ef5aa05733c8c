"""The files under home (DESIGN §2, §6) and the step's environment (DESIGN §5): execution folders,
run folders, provenance, working folder, PYTHONPATH, RUNYARD_* variables, and hostile param values."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .conftest import Project


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=folder, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_an_execution_folder_has_command_log_meta_and_out(project: Project) -> None:
    project.spec("""
        experiment: files
        params: {word: hello}
        steps:
          talk: echo a {word} && echo b >&2 && echo done > {out}/result.txt
        """)
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "spec")
    head = git(project.root, "rev-parse", "HEAD")
    result = project.run("run")
    assert result.code == 0, result
    (ex,) = project.executions("files")
    folder = Path(ex.folder)
    assert folder.parent.parent.parent.parent == project.home
    assert sorted(p.name for p in folder.iterdir()) == ["command", "log", "meta.json", "out"]
    assert (folder / "command").read_text() == ex.command + "\n"
    assert ex.command == f"echo a hello && echo b >&2 && echo done > {folder}/out/result.txt"
    assert (folder / "log").read_text().splitlines() == ["a hello", "b"]  # stdout and stderr, in order
    assert (folder / "out" / "result.txt").read_text() == "done\n"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["key"] == ex.key and meta["step"] == "talk" and meta["experiment"] == "files"
    assert meta["params"] == {"word": "hello"}
    assert meta["command"] == ex.command and meta["workdir"] == str(project.root)
    assert meta["status"] == "done" and meta["exit_code"] == 0 and meta["error"] is None
    assert meta["attempt"] == 1 and meta["slot"] == "cpu"
    assert meta["env"]["RUNYARD_OUT"] == str(folder / "out") and meta["env"]["CUDA_VISIBLE_DEVICES"] == ""
    assert meta["started"] <= meta["ended"] and meta["duration"] == ex.duration and 0 <= meta["duration"] < 5
    provenance = meta["provenance"]
    code = provenance["code"]
    assert code["commit"] == head and code["branch"] == "main" and code["dirty"] is False
    assert Path(code["root"]).resolve() == project.root.resolve()
    packages = Path(provenance["packages_file"])
    assert packages.is_file() and packages.parent == project.home / "env"
    assert "click" in packages.read_text().lower()
    assert provenance["python"] and provenance["host"]
    # the store holds the same provenance
    assert ex.provenance is not None and ex.provenance["code"]["commit"] == head


def test_uncommitted_changes_are_recorded_with_a_diff_file(project: Project) -> None:
    project.spec("""
        experiment: dirty
        steps:
          talk: python rec.py talk
        """)
    git(project.root, "init", "-q")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "spec")
    with open(project.root / "rec.py", "a") as handle:
        handle.write("# an edit\n")
    assert project.run("run").code == 0
    (ex,) = project.executions("dirty")
    code = json.loads(Path(ex.folder, "meta.json").read_text())["provenance"]["code"]
    assert code["dirty"] is True
    diff = Path(code["diff_file"])
    assert diff.parent == project.home / "code" and "+# an edit" in diff.read_text()


def test_outside_a_git_repository_there_is_no_code_state(project: Project) -> None:
    project.spec("""
        experiment: nogit
        steps:
          talk: python rec.py talk
        """)
    env = {"GIT_CEILING_DIRECTORIES": str(project.tmp)}  # tmp_path might sit inside some repository
    assert project.run("run", **env).code == 0
    (ex,) = project.executions("nogit")
    meta = json.loads(Path(ex.folder, "meta.json").read_text())
    assert meta["provenance"]["code"] is None
    assert Path(meta["provenance"]["packages_file"]).is_file()


def test_a_run_folder_has_run_json_and_links_to_its_step_folders(project: Project) -> None:
    project.spec("""
        experiment: links
        params: {lr: 0.1}
        steps:
          prep: python rec.py prep
          train: python rec.py train-{lr}
        sweeps:
          lrs: {lr: [0.1, 0.2]}
        """)
    assert project.run("run").code == 0
    executions = {ex.key: ex for ex in project.executions("links")}
    runs = project.home / "links" / "runs"
    assert sorted(os.listdir(runs)) == ["default", "lr=0.2"]
    for name in ("default", "lr=0.2"):
        folder = runs / name
        data = json.loads((folder / "run.json").read_text())
        assert data["name"] == name and data["experiment"] == "links" and len(data["id"]) == 64
        assert data["params"]["lr"] == (0.1 if name == "default" else 0.2)
        assert [s["name"] for s in data["steps"]] == ["prep", "train"]
        for step in data["steps"]:
            link = folder / step["name"]
            assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # relative: the home can move
            assert link.resolve() == Path(executions[step["key"]].folder).resolve() == Path(step["folder"])
            assert (link / "meta.json").is_file()


def test_steps_run_in_the_spec_folder_with_it_first_on_pythonpath_and_runyard_variables(project: Project) -> None:
    project.spec("""
        experiment: envs
        steps:
          here: python rec.py here --out {out}
          there:
            run: python -m rec there
            workdir: sub
        """)
    (project.root / "sub").mkdir()
    elsewhere = project.tmp / "elsewhere"
    elsewhere.mkdir()
    result = project.run("run", str(project.root / "runyard.yaml"), cwd=elsewhere, PYTHONPATH="/somewhere/else")
    assert result.code == 0, result
    executions = {ex.step: ex for ex in project.executions("envs")}
    (here,) = project.starts("here")
    (there,) = project.starts("there")
    assert here["cwd"] == str(project.root)
    assert there["cwd"] == str(project.root / "sub")  # `python -m rec` found rec.py through PYTHONPATH
    for record in (here, there):
        assert record["pythonpath"].split(os.pathsep) == [str(project.root), "/somewhere/else"]
        ex = executions[record["label"]]
        env = record["env"]
        assert env["RUNYARD_KEY"] == ex.key
        assert env["RUNYARD_EXPERIMENT"] == "envs" and env["RUNYARD_STEP"] == ex.step
        assert env["RUNYARD_FOLDER"] == ex.folder
        assert env["RUNYARD_OUT"] == os.path.join(ex.folder, "out")
        assert env["RUNYARD_METRICS"] == os.path.join(ex.folder, "metrics.jsonl")
        assert env["RUNYARD_ATTEMPT"] == "1"
        assert env["RUNYARD_WORKER"] and env["RUNYARD_TIME"]
        # the environment additions are recorded too
        assert ex.command_env is not None and ex.command_env["RUNYARD_OUT"] == env["RUNYARD_OUT"]
    assert executions["here"].command.endswith(f"--out {executions['here'].folder}/out")


HOSTILE = ["x; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "../../escape", "a' b\" c", "--out=/tmp/PWNED",
           "/tmp/PWNED"]


def test_hostile_param_values_run_nothing_and_write_nothing_outside_home(project: Project) -> None:
    values = ", ".join(json.dumps(v) for v in HOSTILE)
    project.spec(f"""
        experiment: hostile
        params: {{x: safe}}
        steps:
          use: python rec.py v {{x}} && echo {{x}} > {{out}}/value.txt
          next: python rec.py w [x] --name {{name}} --in {{use.out}}
        sweeps:
          bad: {{x: [{values}]}}
        """)
    before = set(project.tmp.rglob("*"))
    result = project.run("run")
    assert result.code == 0, result
    assert sorted(r["label"] for r in project.starts()) == ["v"] * len(HOSTILE) + ["w"] * len(HOSTILE)
    # each value reached the program as one argument, unchanged
    uses = [ex for ex in project.executions("hostile") if ex.step == "use"]
    assert sorted(str(ex.params["x"]) for ex in uses) == sorted(HOSTILE)
    for ex in uses:
        assert (Path(ex.folder) / "out" / "value.txt").read_text() == f"{ex.params['x']}\n"
    # no injected command ran; nothing appeared outside the home (but the steps' own record file)
    assert not list(project.tmp.rglob("PWNED"))  # run folder names may say PWNED; no file is called that
    assert not Path("/tmp/PWNED").exists() and not (project.root / "PWNED").exists()
    assert not list(project.tmp.rglob("escape"))
    outside = [p for p in set(project.tmp.rglob("*")) - before if not p.is_relative_to(project.home)]
    assert outside == [project.rec]
    for p in project.home.rglob("*"):
        assert p.resolve().is_relative_to(project.home.resolve()), p
    runs = sorted(os.listdir(project.home / "hostile" / "runs"))
    assert len(runs) == len(HOSTILE) and all("/" not in name for name in runs)


def test_a_rerun_never_replaces_what_a_step_wrote_in_the_run_folder(project: Project) -> None:
    project.spec("""
        experiment: own
        steps:
          make: python rec.py make && echo note > {run}/notes.txt
          mine: python rec.py mine
        """)
    assert project.run("run").code == 0
    run = project.home / "own" / "runs" / "default"
    assert (run / "make").is_symlink() and (run / "mine").is_symlink()
    assert (run / "notes.txt").read_text() == "note\n"
    (run / "mine").unlink()  # say the user (or a step) put a folder where the link was
    (run / "mine").mkdir()
    (run / "mine" / "file.txt").write_text("kept\n")
    (run / "make").unlink()  # a link deleted by hand is made again
    again = project.run("run")
    assert again.code == 0, again
    assert (run / "mine" / "file.txt").read_text() == "kept\n" and not (run / "mine").is_symlink()
    assert (run / "make").is_symlink() and (run / "make" / "meta.json").is_file()
