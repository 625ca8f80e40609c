"""Packaging and layering invariants: cheap import, headless core, valid manifest."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "napari_unet" / "core"
GUI_MODULES = ("napari", "qtpy", "magicgui", "PyQt5", "PyQt6", "PySide2", "PySide6")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_importing_the_package_imports_neither_torch_nor_napari_nor_qt():
    loaded = _loaded_after("import napari_unet")
    assert not loaded & {"torch", *GUI_MODULES}


def test_the_core_never_imports_napari_or_qt():
    modules = sorted(
        ".".join(p.relative_to(CORE).with_suffix("").parts).removesuffix(".__init__").removesuffix("__init__")
        for p in CORE.rglob("*.py")
    )
    assert len(modules) > 40 and "training.train" in modules  # every module, in every package
    code = "\n".join(f"import napari_unet.core.{m}".rstrip(".") for m in modules)
    code += "\nimport napari_unet.cli, napari_unet.synthetic"
    loaded = _loaded_after(code)
    assert "torch" in loaded  # the modules really were imported
    assert not loaded & set(GUI_MODULES)


def test_manifest_validates_with_npe2():
    res = subprocess.run([sys.executable, "-m", "npe2", "validate", str(ROOT / "napari.yaml")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_python_name_in_the_manifest_imports():
    import importlib

    manifest = yaml.safe_load((ROOT / "napari.yaml").read_text())
    names = [c["python_name"] for c in manifest["contributions"]["commands"]]
    assert names
    for name in names:
        module, attr = name.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), name


PLUGIN = "napari-stroke-unet"  # the distribution and the npe2 plugin ("napari-unet" is taken)


def test_the_packaged_manifest_is_a_real_copy_of_the_root_napari_yaml():
    """The manifest ships inside the package; the root copy (the design card's place) must
    be a plain file, not a symlink (which a Windows clone turns into a text file), and the
    two must stay byte for byte the same: edit one, copy it over the other."""
    packaged = ROOT / "src" / "napari_unet" / "napari.yaml"
    root = ROOT / "napari.yaml"
    assert not packaged.is_symlink() and not root.is_symlink()
    assert packaged.read_bytes() == root.read_bytes(), (
        "src/napari_unet/napari.yaml and napari.yaml differ: copy one over the other")


def test_the_manifest_names_the_distribution_and_every_id_is_its_own():
    """npe2 ties a manifest to its distribution: the plugin name, the command ids' prefix
    and the napari.manifest entry point must all be the published name."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    manifest = yaml.safe_load((ROOT / "napari.yaml").read_text())
    assert project["name"] == manifest["name"] == PLUGIN
    assert project["entry-points"]["napari.manifest"] == {PLUGIN: "napari_unet:napari.yaml"}
    assert project["scripts"] == {"napari-unet": "napari_unet.cli:main"}  # the command stays
    assert manifest["display_name"] == "U-Net from a few strokes"  # the Plugins menu title
    contributions = manifest["contributions"]
    ids = [c["id"] for c in contributions["commands"]]
    used = [c["command"] for kind in ("widgets", "sample_data", "readers") for c in contributions[kind]]
    assert ids and all(i.startswith(PLUGIN + ".") for i in ids)
    assert set(used) <= set(ids)


def test_the_version_is_kept_in_one_place():
    import tomllib

    import napari_unet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "napari_unet.__version__"}
    assert napari_unet.__version__.count(".") == 2


def test_installed_plugin_manifest_is_the_root_napari_yaml():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest(PLUGIN)
    root = npe2.PluginManifest.from_file(ROOT / "napari.yaml")
    from importlib.resources import files

    packaged = files("napari_unet") / "napari.yaml"
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()
    assert manifest.contributions.widgets == root.contributions.widgets
    assert manifest.contributions.sample_data == root.contributions.sample_data
    assert manifest.contributions.readers == root.contributions.readers


def test_the_scripts_import_what_they_use_from_the_core():
    """``scripts/`` is run by hand (retraining the starters): its imports must follow the
    core's layout all the same."""
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and "usage" in out.stdout, f"{script.name}: {out.stderr[-500:]}"
