"""The app's root (tui/root.py) and its exports that never replace a file (tui/export.py).

Unit tests of the one path check (``..``, absolute paths, ``~``, symlinks, a root given as a relative
path, a sibling whose name starts like the root's), then the app confined to a root through each door a
user types a path into: /save, /run, /model, /assignment and the training form.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tweetsmith.tui.export import write_new
from tweetsmith.tui.root import PathRefused, Root


@pytest.fixture()
def tree(tmp_path, monkeypatch):
    """tmp/root (the root, with sub/ and links in and out), tmp/outside, tmp/root-evil (a sibling whose name
    starts with the root's), tmp/home (HOME); the current directory is tmp, not the root."""
    root, outside, evil, home = (tmp_path / name for name in ("root", "outside", "root-evil", "home"))
    for directory in (root / "sub", outside, evil, home):
        directory.mkdir(parents=True)
    (root / "out-link").symlink_to(outside)
    (root / "in-link").symlink_to(root / "sub")
    (root / "dangling").symlink_to(outside / "not-yet.md")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refusal(given: str, root: Path, what: str = "/save") -> str:
    return (
        f"{what}: {given} is outside {root}, the only folder this app may use; give a path inside it "
        "(relative paths start there)"
    )


def test_a_relative_root_is_taken_from_the_current_directory_and_resolved(tree):
    assert Root.at("root").directory == Root.at(tree / "root" / "in-link" / "..").directory == (tree / "root").resolve()
    with pytest.raises(PathRefused) as refused:
        Root.at("nowhere")
    assert str(refused.value) == (
        "--root nowhere: no such directory; give an existing directory (the app reads and writes only under it)"
    )


@pytest.mark.parametrize(
    "given",
    [
        "chat.md",
        "sub/chat.md",
        "sub/../chat.md",
        "./sub/./x/../chat.md",
        "in-link/chat.md",
        "new/dir/chat.md",
        ".",
        "sub",
    ],
)
def test_paths_inside_the_root_resolve_there(tree, given):
    root = Root.at("root")
    expected = Path(os.path.realpath(tree / "root" / given))
    assert root.path(given, "/save") == expected
    assert root.path(str(tree / "root" / given), "/save") == expected  # the same, given absolute


@pytest.mark.parametrize(
    "given",
    [
        "..",
        "../x.md",
        "sub/../../x.md",
        "/etc/passwd",
        "~/.bashrc",
        "~",
        "out-link/x.md",
        "out-link",
        "dangling",
        "../root-evil/x.md",
        "in-link/../../outside/x.md",
    ],
)
def test_paths_that_leave_the_root_are_refused_in_one_line(tree, given):
    root = Root.at("root")
    with pytest.raises(PathRefused) as refused:
        root.path(given, "/save")
    assert str(refused.value) == _refusal(given, root.directory)


def test_absolute_paths_outside_and_the_home_are_refused_where_they_point(tree):
    root = Root.at("root")
    for given in (str(tree / "outside" / "x.md"), str(tree / "root-evil"), "~/" + "x.md", "~root/.bashrc"):
        with pytest.raises(PathRefused):
            root.path(given, "/save")
    with pytest.raises(PathRefused) as refused:
        root.path("a\x00b", "/save")
    assert str(refused.value) == f"/save: 'a\\x00b' is not a usable path; give a path inside {root.directory}"
    with pytest.raises(PathRefused) as refused:
        root.path("~nosuchuser/x.md", "data")
    assert str(refused.value) == "data: '~nosuchuser/x.md' names the home of an unknown user; give another path"


def test_a_home_inside_the_root_may_be_used(tree, monkeypatch):
    monkeypatch.setenv("HOME", str(tree / "root" / "sub"))
    assert Root.at("root").path("~/chat.md", "/save") == (tree / "root" / "sub" / "chat.md").resolve()


def test_without_a_root_paths_are_the_users(tree):
    free = Root()
    assert not free.confined
    assert free.path("../x.md", "/save") == Path("../x.md")
    assert free.path("~/x.md", "/save") == tree / "home" / "x.md"
    assert free.model_spec("/any/model", "/model") == "/any/model"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gpt2", "gpt2"),  # a hub id or a known name passes as it is
        ("smollm2-135m", "smollm2-135m"),
        ("openai-community/gpt2", "openai-community/gpt2"),
        ("sub", "{root}/sub"),  # a directory under the root: made absolute
        ("./model.gguf", "{root}/model.gguf"),
        ("in-link", "{root}/sub"),
    ],
)
def test_model_specs_keep_hub_ids_and_confine_paths(tree, spec, expected):
    root = Root.at("root")
    assert root.model_spec(spec, "/model") == expected.format(root=root.directory)


@pytest.mark.parametrize("spec", ["/abs/model", "../model", "~/model", "out-link", "x/../../model.gguf"])
def test_model_paths_out_of_the_root_are_refused(tree, spec):
    root = Root.at("root")
    with pytest.raises(PathRefused) as refused:
        root.model_spec(spec, "/model")
    assert str(refused.value) == _refusal(spec, root.directory, "/model")


# --- writing a new file ------------------------------------------------------------------------------


def test_write_new_never_replaces_a_file(tmp_path):
    target = tmp_path / "out" / "chat.md"
    assert write_new(target, "first\n") == target
    assert write_new(target, "second\n") == tmp_path / "out" / "chat-2.md"
    (tmp_path / "out" / "chat-3.md").write_text("someone's\n")
    assert write_new(target, "third\n") == tmp_path / "out" / "chat-4.md"
    contents = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert contents == {
        "chat.md": "first\n",
        "chat-2.md": "second\n",
        "chat-3.md": "someone's\n",
        "chat-4.md": "third\n",
    }
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # a chat is its owner's to read


def test_write_new_without_hard_links_still_never_replaces(tmp_path, monkeypatch):
    def no_links(*_args, **_kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "chat.md").write_text("kept\n")
    assert write_new(tmp_path / "chat.md", "new\n") == tmp_path / "chat-2.md"
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"chat.md": "kept\n", "chat-2.md": "new\n"}


# --- the app confined to a root ----------------------------------------------------------------------


def _error(app) -> str:
    return str(app.screen.query_one("#input-error").content)


async def test_every_typed_path_is_checked_against_the_apps_root(tree, make_app, settle, submit):
    root = (tree / "root").resolve()
    (tree / "outside" / "src.txt").write_text("\\alice- hello there\n")
    app = make_app(root="root")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        cases = [
            ("/save ../chat.md", _refusal("../chat.md", root)),
            ("/save out-link/chat.md", _refusal("out-link/chat.md", root)),
            ("/save ~/.bashrc", _refusal("~/.bashrc", root)),
            ("/save notes.txt", "/save writes markdown here: give a name ending in .md, e.g. /save notes.md"),
            ("/save sub", "/save writes markdown here: give a name ending in .md, e.g. /save sub.md"),
            (f"/run {tree / 'outside'}", _refusal(str(tree / "outside"), root, "/run")),
            ("/model ../outside", _refusal("../outside", root, "/model")),
            ("/assignment ../outside/src.txt", _refusal("../outside/src.txt", root, "/assignment")),
            ("/assignment sotu out=/tmp/x", _refusal("/tmp/x", root, "/assignment out=")),
            ("/assignment sotu out=runs/a model=~/m", _refusal("~/m", root, "/assignment model=")),
        ]
        for line, said in cases:
            await submit(pilot, line)
            await settle(pilot)
            assert app.screen is app.main, line  # nothing opened, nothing loading
            assert _error(app) == said, line
        assert app.workspace.model_spec is None and app.workspace.run_dir is None

        await submit(pilot, "/save chat.md")
        await submit(pilot, "/save chat.md")
        await settle(pilot)
        notes = [n.message for n in app._notifications]
        assert notes[-2:] == [
            f"saved 0 samples to {root / 'chat.md'}",
            f"chat.md exists and is kept: saved 0 samples to {root / 'chat-2.md'}",
        ]
    assert sorted(p.name for p in (tree / "outside").iterdir()) == ["src.txt"]
    assert sorted(p.name for p in root.iterdir()) == ["chat-2.md", "chat.md", "dangling", "in-link", "out-link", "sub"]


async def test_the_training_form_is_checked_against_the_apps_root(tree, make_app, settle, small_splits, tiny_llama_dir):
    from textual.widgets import Input

    root = (tree / "root").resolve()
    app = make_app(root="root")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        screen = app.screen
        fields = {"data": str(small_splits), "out": "runs/x", "model": "gpt2"}
        for name, value, said in [
            ("data", str(small_splits), _refusal(str(small_splits), root, "data")),
            ("out", "../runs/x", _refusal("../runs/x", root, "out")),
            ("model", str(tiny_llama_dir), _refusal(str(tiny_llama_dir), root, "model")),
        ]:
            for field, good in fields.items():
                screen.query_one(f"#f-{field}", Input).value = value if field == name else good
            if name != "data":  # the splits, copied inside the root, pass
                screen.query_one("#f-data", Input).value = "sub"
                for split in ("train", "valid", "test"):
                    (root / "sub" / f"{split}.txt").write_bytes((small_splits / f"{split}.txt").read_bytes())
            screen.action_start()
            await settle(pilot)
            assert str(screen.query_one("#form-error").content) == said, name
            assert not app.workspace.training_running
        for field, good in fields.items():
            screen.query_one(f"#f-{field}", Input).value = "sub" if field == "data" else good
        config = screen.read_form()  # all three inside: absolute paths in the root, the hub id as it is
        assert (config.data, config.out, config.model) == (str(root / "sub"), str(root / "runs" / "x"), "gpt2")


async def test_the_terminal_app_keeps_its_freedom_but_never_replaces_a_file(
    tmp_path, make_app, settle, submit, monkeypatch
):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    out = tmp_path / "elsewhere" / "chat.md"
    out.parent.mkdir()
    out.write_text("mine\n")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, f"/save {out}", "/save ../notes.txt")
        await settle(pilot)
        notes = [n.message for n in app._notifications]
    assert out.read_text() == "mine\n"
    assert (tmp_path / "elsewhere" / "chat-2.md").read_text().startswith("# tweetsmith chat")
    assert notes[-2] == f"chat.md exists and is kept: saved 0 samples to {tmp_path / 'elsewhere' / 'chat-2.md'}"
    assert notes[-1] == "saved 0 samples to ../notes.txt"
    assert (tmp_path / "notes.txt").read_text().startswith("# tweetsmith chat")


# --- tweetsmith tui --root ------------------------------------------------------------------------------


def test_tui_root_flag_confines_the_app_and_works_in_its_root(tree, monkeypatch, capsys):
    import tweetsmith.tui.app as app_module
    from tweetsmith.scripts.cli import main

    started = {}
    monkeypatch.setattr(app_module, "run_app", lambda **kwargs: started.update(kwargs, cwd=Path.cwd()) or 0)
    assert main(["tui", "--root", "root", "--data", "outside", "--model", "gpt2"]) == 0
    root = (tree / "root").resolve()
    # the operator's flags are taken from where they were typed; then the app works in its root
    assert started == {
        "model_spec": "gpt2",
        "run_dir": None,
        "data_dir": (tree / "outside").resolve(),
        "root": root,
        "precision": "auto",
        "cwd": root,
    }
    monkeypatch.chdir(tree)
    assert main(["tui", "--root", "nowhere"]) == 2
    assert capsys.readouterr().err == (
        "tweetsmith: error: --root nowhere: no such directory; give an existing directory "
        "(the app reads and writes only under it)\n"
    )
