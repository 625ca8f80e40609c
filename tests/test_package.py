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


def test_installed_plugin_manifest_is_the_root_napari_yaml():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-unet")
    root = npe2.PluginManifest.from_file(ROOT / "napari.yaml")
    from importlib.resources import files

    packaged = files("napari_unet") / "napari.yaml"
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()
    assert manifest.contributions.widgets == root.contributions.widgets
    assert manifest.contributions.sample_data == root.contributions.sample_data


def test_the_scripts_import_what_they_use_from_the_core():
    """``scripts/`` is run by hand (retraining the starters): its imports must follow the
    core's layout all the same."""
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and "usage" in out.stdout, f"{script.name}: {out.stderr[-500:]}"
