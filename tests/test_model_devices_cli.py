"""`mingjing model devices` names what a GPU bundle's backend did: loaded but seeing no GPU,
or left out with the reason (the GPU variant of the installers on a machine without one)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app import model_cli
from app.paths import AppPaths
from engine import cpu_backend
from engine.cpu_backend import EngineBuild


def _devices(tmp_path: Path, chat_model_path: Path, build: EngineBuild,
             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setattr(cpu_backend, "_build", build)
    monkeypatch.setattr("engine.devices.list_devices", lambda: [])
    args = argparse.Namespace(path=str(chat_model_path), ctx=None, gpu_layers=None,
                              device=None, json=False)
    assert model_cli.cmd_model_devices(args, AppPaths.create(tmp_path / "home")) == 0
    return capsys.readouterr().out


def test_a_loaded_gpu_backend_without_a_gpu_says_so(
        tmp_path: Path, chat_model_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    build = EngineBuild("x86-64-v3", (), "", "cpu", gpu_backends=("vulkan",))
    out = _devices(tmp_path, chat_model_path, build, monkeypatch, capsys)
    assert "the vulkan backend sees no GPU" in out
    assert "make gpu" not in out  # this build has a GPU backend: no advice to build one


def test_a_left_out_gpu_backend_gives_its_reason(
        tmp_path: Path, chat_model_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    build = EngineBuild("x86-64-v3", (), "", "cpu",
                        gpu_rejected={"vulkan": "no Vulkan loader (libvulkan.so.1)"})
    out = _devices(tmp_path, chat_model_path, build, monkeypatch, capsys)
    assert "the vulkan backend is left out: no Vulkan loader (libvulkan.so.1)" in out
    assert "sees no GPU" not in out and "make gpu" not in out


def test_a_cpu_build_points_to_the_gpu_build(
        tmp_path: Path, chat_model_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = _devices(tmp_path, chat_model_path, EngineBuild("x86-64-v3", (), "", "cpu"),
                   monkeypatch, capsys)
    assert "no GPU: this llama.cpp build runs on the CPU" in out
